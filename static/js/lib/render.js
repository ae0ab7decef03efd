// @ts-check
// Markdown and code rendering for agent output: marked → DOMPurify → highlight.js.
//
// Everything rendered here was written by an agent, so it is untrusted: the sanitiser keeps
// no data-*, hx-*, style or form attributes (nothing htmx or our own scripts would act on),
// and callers put the result inside an `hx-disable` container.
//
// highlight.js ships only CommonJS files in npm (no browser bundle): its core is imported
// as a module (a scope of its own) that finds a `module` object on window while it runs,
// and its languages come from the ES-module copies. Nothing is evaluated from a string,
// so the Content-Security-Policy needs no 'unsafe-eval'.

// Where the vendor files are: the page's script tag carries their static URLs.
var script = /** @type {HTMLElement | null} */ (document.querySelector("script[data-highlight]"));
var highlightBase = script ? script.dataset.highlight : "/static/vendor/highlight/";
var languageBase = script ? script.dataset.highlightLanguages : "/static/vendor/highlight-es/languages/";
// The languages served (starter/vendor_files.py); a missing one only loses colours.
var LANGUAGES = script && script.dataset.highlightLanguageNames
  ? script.dataset.highlightLanguageNames.split(" ")
  : ["plaintext"];
/** @type {any} */
var highlighter = null;

// What agent-written HTML may keep. DOMPurify drops script, event handlers and
// javascript: URLs by default; on top of that: no data-* (htmx reads data-hx-*), no hx-*,
// no inline style (no overlays over the dashboard), no forms or buttons that could borrow
// one of the page's forms, and ids/names prefixed so they cannot clobber the page's own.
var SANITIZE = {
  ALLOW_DATA_ATTR: false,
  FORBID_TAGS: ["style", "form", "button", "textarea", "select", "option", "template"],
  FORBID_ATTR: ["style", "form", "formaction", "formmethod", "formtarget", "action"],
  SANITIZE_NAMED_PROPS: true,
};

/** @param {string} url */
function loadCore(url) {
  var shim = { exports: {} };
  var global = /** @type {any} */ (window);
  global.module = shim;
  return import(url).then(function () { return shim.exports; }).finally(function () {
    if (global.module === shim) { delete global.module; }
  });
}

/** @type {any} */
var DOMPurify = /** @type {any} */ (window).DOMPurify;

/** Resolves with highlight.js once its core and languages are loaded (null if they fail). */
export var ready = new Promise(function (resolve) {
  document.addEventListener("DOMContentLoaded", resolve);
  if (document.readyState !== "loading") { resolve(); }
}).then(function () {
  return loadCore(highlightBase + "core.js");
}).then(function (core) {
  return Promise.all(LANGUAGES.map(function (name) {
    return import(languageBase + name + ".js").then(function (language) {
      core.registerLanguage(name, language.default);
    }, function () { /* a missing language only loses colours */ });
  })).then(function () { highlighter = core; return core; });
}).catch(function () { return null; });

if (DOMPurify) {
  // htmx also reads bare hx-* attributes; FORBID_ATTR takes exact names only.
  DOMPurify.addHook("uponSanitizeAttribute", function (node, data) {
    var name = (data.attrName || "").toLowerCase();
    if (name.indexOf("hx-") === 0 || name.indexOf("data-") === 0) { data.keepAttr = false; }
  });
  // Links in agent output open elsewhere and never get the dashboard as opener.
  DOMPurify.addHook("afterSanitizeAttributes", function (node) {
    if (node.tagName === "A" && node.getAttribute("href")) {
      node.setAttribute("target", "_blank");
      node.setAttribute("rel", "noopener noreferrer");
    }
  });
}

/**
 * Colour the code blocks inside `element` that are not coloured yet.
 * @param {Element} element
 */
export function highlightWithin(element) {
  var blocks = element.querySelectorAll("pre code:not([data-highlighted])");
  if (!blocks.length) { return; }
  /** @param {any} core */
  function apply(core) {
    if (!core) { return; }
    blocks.forEach(function (block) {
      try { core.highlightElement(block); } catch (error) { /* unknown language */ }
    });
  }
  if (highlighter) { apply(highlighter); } else { ready.then(apply); }
}

/**
 * Render agent-written Markdown into `element`, sanitised.
 * @param {Element} element
 * @param {string} text
 */
export function markdown(element, text) {
  var marked = /** @type {any} */ (window).marked;
  if (!marked || !DOMPurify) {
    element.textContent = text;
    return;
  }
  var html = marked.parse(text || "", { gfm: true, breaks: false, async: false });
  element.innerHTML = DOMPurify.sanitize(html, SANITIZE);
  highlightWithin(element);
}

/**
 * Show `text` as a code block in `element`, coloured as `language`.
 * @param {Element} element
 * @param {string} text
 * @param {string} [language]
 */
export function code(element, text, language) {
  var block = document.createElement("code");
  if (language) { block.className = "language-" + language; }
  block.textContent = text;
  element.textContent = "";
  element.appendChild(block);
  highlightWithin(element);
}

/**
 * Server fragments mark what the browser finishes: Markdown (a `data-markdown-source`
 * element holds the text, its next sibling receives the rendering) and code colours.
 * @param {Element} root
 */
export function enhance(root) {
  root.querySelectorAll("[data-markdown-source]").forEach(function (source) {
    var target = source.nextElementSibling;
    if (target) { markdown(target, source.textContent || ""); }
  });
  highlightWithin(root);
}
