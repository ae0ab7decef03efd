// @ts-check
// The colour theme, decided before the first paint. A classic (not module) script loaded
// without `defer` in <head>: it runs before <body> is drawn, so a dark page never flashes
// light. The Content-Security-Policy forbids inline scripts, hence this file.
//
// The person's choice ("light", "dark" or, when nothing is stored, "system") lives in
// localStorage; <html data-theme> always holds the theme in force ("light" or "dark"), and
// <html data-theme-choice> the choice, for the toggle in the account menu (pages/base.js).
// The stylesheets know only data-theme, so the dark palette is written once.
//
// Other scripts ask for a change with a `starter:theme-choice` event on document (detail:
// the choice) and hear `starter:theme` (detail: the theme in force) when it changes.

(function () {
  var STORAGE_KEY = "starter.theme";
  var root = document.documentElement;
  var systemDark = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;

  /** @returns {string} */
  function storedChoice() {
    try {
      var value = window.localStorage.getItem(STORAGE_KEY);
      return value === "light" || value === "dark" ? value : "system";
    } catch (error) {
      return "system";  // storage refused (private mode): follow the system
    }
  }

  function apply() {
    var choice = storedChoice();
    var theme = choice === "system" ? (systemDark && systemDark.matches ? "dark" : "light") : choice;
    var changed = root.dataset.theme !== theme;
    root.dataset.theme = theme;
    root.dataset.themeChoice = choice;
    if (changed) { document.dispatchEvent(new CustomEvent("starter:theme", { detail: theme })); }
  }

  apply();
  if (systemDark) { systemDark.addEventListener("change", apply); }
  // Another tab chose: follow it.
  window.addEventListener("storage", function (event) { if (event.key === STORAGE_KEY) { apply(); } });
  document.addEventListener("starter:theme-choice", function (event) {
    var choice = /** @type {CustomEvent} */ (event).detail;
    try {
      if (choice === "light" || choice === "dark") { window.localStorage.setItem(STORAGE_KEY, choice); }
      else { window.localStorage.removeItem(STORAGE_KEY); }
    } catch (error) { /* not remembered; still applied below for this page */ }
    apply();
    // Storage refused: apply() read "system"; honour the choice on this page at least.
    if ((choice === "light" || choice === "dark") && root.dataset.themeChoice !== choice) {
      root.dataset.themeChoice = choice;
      if (root.dataset.theme !== choice) {
        root.dataset.theme = choice;
        document.dispatchEvent(new CustomEvent("starter:theme", { detail: choice }));
      }
    }
  });
})();
