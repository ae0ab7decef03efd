// Markdown and code rendering for agent output: marked → DOMPurify → highlight.js.
//
// highlight.js ships only CommonJS files in npm (no browser bundle), so its core and a
// few languages are loaded one after another with a `module` object in place, after the
// page's own scripts (marked and DOMPurify) have run and can no longer be confused by it.
(function () {
  "use strict";

  var script = document.currentScript;
  var highlightBase = script ? script.dataset.highlight : "/static/vendor/highlight/";
  var LANGUAGES = ["bash", "shell", "python", "javascript", "typescript", "json", "css", "xml",
    "sql", "yaml", "ini", "go", "rust", "java", "ruby", "php", "diff", "markdown", "dockerfile",
    "plaintext"];
  var highlighter = null;

  function loadCommonJs(url) {
    return new Promise(function (resolve, reject) {
      var module = { exports: {} };
      window.module = module;
      window.exports = module.exports;
      var tag = document.createElement("script");
      tag.src = url;
      tag.onload = function () { cleanup(); resolve(module.exports); };
      tag.onerror = function () { cleanup(); reject(new Error("could not load " + url)); };
      function cleanup() { delete window.module; delete window.exports; tag.remove(); }
      document.head.appendChild(tag);
    });
  }

  var highlightReady = new Promise(function (resolve) {
    document.addEventListener("DOMContentLoaded", resolve);
    if (document.readyState !== "loading") { resolve(); }
  }).then(function () {
    return loadCommonJs(highlightBase + "core.js");
  }).then(function (core) {
    var chain = Promise.resolve();
    LANGUAGES.forEach(function (name) {
      chain = chain.then(function () {
        return loadCommonJs(highlightBase + "languages/" + name + ".js").then(function (language) {
          core.registerLanguage(name, language);
        }, function () { /* a missing language only loses colours */ });
      });
    });
    return chain.then(function () { highlighter = core; return core; });
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
