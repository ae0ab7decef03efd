// Markdown and code rendering for agent output: marked → DOMPurify → highlight.js.
//
// highlight.js ships only CommonJS files in npm (no browser bundle), so its core and a
// few languages are fetched and run with a `module` object of their own.
(function () {
  "use strict";

  var script = document.currentScript;
  var highlightBase = script ? script.dataset.highlight : "/static/vendor/highlight/";
  var LANGUAGES = ["bash", "shell", "python", "javascript", "typescript", "json", "css", "xml",
    "sql", "yaml", "ini", "go", "rust", "java", "ruby", "php", "diff", "markdown", "dockerfile",
    "plaintext"];
  var highlighter = null;

  // Each file runs in its own function scope: as plain <script>s their top-level consts
  // (the same names in several language files) would collide in the global scope.
  function loadCommonJs(url) {
    return fetch(url, { credentials: "same-origin" }).then(function (response) {
      if (!response.ok) { throw new Error("could not load " + url); }
      return response.text();
    }).then(function (source) {
      var module = { exports: {} };
      new Function("module", "exports", source + "\n//# sourceURL=" + url)(module, module.exports);
      return module.exports;
    });
  }

  var highlightReady = new Promise(function (resolve) {
    document.addEventListener("DOMContentLoaded", resolve);
    if (document.readyState !== "loading") { resolve(); }
  }).then(function () {
    return loadCommonJs(highlightBase + "core.js");
  }).then(function (core) {
    return Promise.all(LANGUAGES.map(function (name) {
      return loadCommonJs(highlightBase + "languages/" + name + ".js").then(function (language) {
        core.registerLanguage(name, language);
      }, function () { /* a missing language only loses colours */ });
    })).then(function () { highlighter = core; return core; });
  }).catch(function () { return null; });

  if (window.DOMPurify) {
    // Links in agent output open elsewhere and never get the dashboard as opener.
    window.DOMPurify.addHook("afterSanitizeAttributes", function (node) {
      if (node.tagName === "A" && node.getAttribute("href")) {
        node.setAttribute("target", "_blank");
        node.setAttribute("rel", "noopener noreferrer");
      }
    });
  }

  function highlightWithin(element) {
    var blocks = element.querySelectorAll("pre code:not([data-highlighted])");
    if (!blocks.length) { return; }
    function apply(core) {
      if (!core) { return; }
      blocks.forEach(function (block) {
        try { core.highlightElement(block); } catch (error) { /* unknown language */ }
      });
    }
    if (highlighter) { apply(highlighter); } else { highlightReady.then(apply); }
  }

  function renderMarkdown(element, text) {
    if (!window.marked || !window.DOMPurify) {
      element.textContent = text;
      return;
    }
    var html = window.marked.parse(text || "", { gfm: true, breaks: false, async: false });
    element.innerHTML = window.DOMPurify.sanitize(html);
    highlightWithin(element);
  }

  function renderCode(element, text, language) {
    var code = document.createElement("code");
    if (language) { code.className = "language-" + language; }
    code.textContent = text;
    element.textContent = "";
    element.appendChild(code);
    highlightWithin(element);
  }

  window.starterRender = {
    markdown: renderMarkdown,
    code: renderCode,
    highlightWithin: highlightWithin,
    ready: highlightReady,
  };
})();
