// @ts-check
// The command palette (Ctrl/Cmd+K): projects and actions, fuzzy search, keyboard first.
//
// Items come from the palette's JSON (the person's projects) plus what the current page
// registers (`register(fn)`, fn returning [{group, label, hint, run|href}]). The home page
// shows the same palette inline, open by default. Its URLs come from the server, as data
// attributes on the overlay (templates/base.html).

import { el } from "../lib/dom.js";
import { json, request } from "../lib/http.js";
import { toast } from "../lib/toast.js";

/**
 * @typedef {object} PaletteItem
 * @property {string} group
 * @property {string} label
 * @property {string} [hint]
 * @property {string} [status] a project's status: the hint shows as its badge
 * @property {string} [href]
 * @property {() => unknown} [run]
 */

/** @type {Array<() => PaletteItem[]>} */
var providers = [];
/** @type {Promise<any> | null} */
var projectsPromise = null;
var dialog = /** @type {HTMLDialogElement | null} */ (document.getElementById("palette"));
var urls = dialog ? dialog.dataset : {};

/** @param {string} url */
function post(url) {
  return request("POST", url).then(function (data) {
    toast(data.message || "Done.", "info");
  }, function (error) { toast(error.message, "error"); });
}

/** @param {boolean} [force] */
function loadProjects(force) {
  if (!projectsPromise || force) {
    projectsPromise = json(urls.itemsUrl || "").catch(function () { return { projects: [] }; });
  }
  return projectsPromise;
}

/**
 * @param {{projects?: any[], organisations?: any[]}} data
 * @returns {PaletteItem[]}
 */
function projectItems(data) {
  /** @type {PaletteItem[]} */
  var items = [];
  (data.projects || []).forEach(function (project) {
    items.push({ group: "Projects", label: project.name, hint: project.status_label, status: project.status, href: project.url });
  });
  (data.projects || []).forEach(function (project) {
    if (project.status === "sleeping") {
      items.push({ group: "Actions", label: "Wake " + project.name, run: function () { return post(project.wake_url); } });
    }
    if (project.status === "running") {
      items.push({ group: "Actions", label: "Sleep " + project.name, run: function () { return post(project.sleep_url); } });
    }
  });
  // The organisations to switch to (the top bar's switcher, by keyboard).
  (data.organisations || []).forEach(function (organisation) {
    if (organisation.current) { return; }
    items.push({
      group: "Organisations",
      label: "Switch to " + organisation.name,
      hint: organisation.role,
      run: function () {
        return request("POST", organisation.switch_url).then(function (/** @type {any} */ answer) {
          window.location.assign(answer.home);
        }, function (/** @type {Error} */ error) { toast(error.message, "error"); });
      },
    });
  });
  return items;
}

/** @type {PaletteItem[]} */
var BASE_ITEMS = [
  { group: "Actions", label: "New project", hint: "Create a project and its machine", href: urls.homeUrl + "?new=1" },
  { group: "Actions", label: "Open the general agent", hint: "One chat across all your projects", href: urls.agentUrl },
  { group: "Actions", label: "Settings", hint: "Models, API keys, tokens", href: urls.settingsUrl },
  { group: "Actions", label: "All projects", href: urls.homeUrl },
];

// Subsequence match: every query character in order; word starts and runs score higher.
function score(query, text) {
  if (!query) { return 1; }
  var q = query.toLowerCase();
  var t = text.toLowerCase();
  var at = t.indexOf(q);
  if (at >= 0) { return 1000 - at + (at === 0 || t[at - 1] === " " ? 200 : 0); }
  var total = 0;
  var position = -1;
  var run = 0;
  for (var i = 0; i < q.length; i += 1) {
    var found = t.indexOf(q[i], position + 1);
    if (found < 0) { return 0; }
    run = found === position + 1 ? run + 1 : 0;
    total += 1 + run * 3 + (found === 0 || t[found - 1] === " " ? 5 : 0);
    position = found;
  }
  return total;
}

var counter = 0;

function Palette(container, options) {
  counter += 1;
  this.options = options || {};
  this.uid = "palette-" + counter;
  this.items = [];
  this.visible = [];
  this.active = 0;
  this.container = container;
  this.build();
}

Palette.prototype.build = function () {
  var self = this;
  var label = el("label", "sr-only", "Search projects and actions");
  label.htmlFor = this.uid + "-input";
  this.input = el("input", "palette-input");
  this.input.id = this.uid + "-input";
  this.input.type = "text";
  this.input.autocomplete = "off";
  this.input.spellcheck = false;
  this.input.placeholder = "Search projects and actions…";
  this.input.setAttribute("role", "combobox");
  this.input.setAttribute("aria-expanded", "true");
  this.input.setAttribute("aria-controls", this.uid + "-list");
  this.input.setAttribute("aria-autocomplete", "list");
  this.list = el("ul", "palette-list");
  this.list.id = this.uid + "-list";
  this.list.setAttribute("role", "listbox");
  this.list.setAttribute("aria-label", "Projects and actions");
  var field = el("div", "palette-field");
  field.innerHTML = '<svg class="palette-icon" viewBox="0 0 20 20" aria-hidden="true"><circle cx="9" cy="9" r="6" fill="none" stroke="currentColor" stroke-width="1.8"/><path d="M14 14l4 4" stroke="currentColor" stroke-width="1.8"/></svg>';
  field.append(label, this.input, el("kbd", "palette-kbd", "Esc"));
  this.container.append(field, this.list);
  this.input.addEventListener("input", function () { self.active = 0; self.render(); });
  this.input.addEventListener("keydown", function (event) { self.keydown(event); });
  this.list.addEventListener("click", function (event) {
    var option = /** @type {HTMLElement | null} */ (/** @type {Element} */ (event.target).closest("[role=option]"));
    if (option) { self.choose(Number(option.dataset.index)); }
  });
  this.list.addEventListener("mousemove", function (event) {
    var option = /** @type {HTMLElement | null} */ (/** @type {Element} */ (event.target).closest("[role=option]"));
    if (option && Number(option.dataset.index) !== self.active) { self.active = Number(option.dataset.index); self.highlight(); }
  });
};

Palette.prototype.refresh = function () {
  var self = this;
  return loadProjects(true).then(function (data) {
    var items = [];
    providers.forEach(function (provider) { items = items.concat(provider() || []); });
    self.items = items.concat(projectItems(data), BASE_ITEMS);
    self.render();
  });
};

Palette.prototype.render = function () {
  var self = this;
  var query = this.input.value.trim();
  this.visible = this.items.map(function (item) {
    return { item: item, score: score(query, item.label + " " + (item.group || "")) };
  }).filter(function (entry) { return entry.score > 0; });
  if (query) { this.visible.sort(function (a, b) { return b.score - a.score; }); }
  this.list.textContent = "";
  var lastGroup = null;
  this.visible.forEach(function (entry, index) {
    if (!query && entry.item.group !== lastGroup) {
      var heading = el("li", "palette-group", entry.item.group);
      heading.setAttribute("role", "presentation");
      self.list.appendChild(heading);
      lastGroup = entry.item.group;
    }
    var option = el("li", "palette-option");
    option.id = self.uid + "-option-" + index;
    option.dataset.index = String(index);
    option.setAttribute("role", "option");
    option.appendChild(el("span", "palette-label", entry.item.label));
    if (entry.item.status) {
      var badge = el("span", "badge badge-" + entry.item.status, entry.item.hint);
      option.appendChild(badge);
    } else if (entry.item.hint) {
      option.appendChild(el("span", "palette-hint", entry.item.hint));
    }
    self.list.appendChild(option);
  });
  if (!this.visible.length) {
    var none = el("li", "palette-empty", query ? "Nothing matches “" + query + "”." : "Loading…");
    none.setAttribute("role", "presentation");
    this.list.appendChild(none);
  }
  this.highlight();
};

Palette.prototype.highlight = function () {
  var self = this;
  this.active = Math.max(0, Math.min(this.active, this.visible.length - 1));
  this.list.querySelectorAll("[role=option]").forEach(function (/** @type {HTMLElement} */ option) {
    var selected = Number(option.dataset.index) === self.active;
    option.setAttribute("aria-selected", selected ? "true" : "false");
    if (selected) {
      self.input.setAttribute("aria-activedescendant", option.id);
      option.scrollIntoView({ block: "nearest" });
    }
  });
};

Palette.prototype.keydown = function (event) {
  if (event.key === "ArrowDown") { this.active += 1; if (this.active >= this.visible.length) { this.active = 0; } this.highlight(); event.preventDefault(); }
  else if (event.key === "ArrowUp") { this.active -= 1; if (this.active < 0) { this.active = this.visible.length - 1; } this.highlight(); event.preventDefault(); }
  else if (event.key === "Enter") { event.preventDefault(); this.choose(this.active); }
  else if (event.key === "Escape" && this.options.onEscape) { event.preventDefault(); this.options.onEscape(); }
};

Palette.prototype.choose = function (index) {
  var entry = this.visible[index];
  if (!entry) { return; }
  if (this.options.onChoose) { this.options.onChoose(); }
  if (entry.item.href) { window.location.href = entry.item.href; return; }
  if (entry.item.run) { entry.item.run(); }
};

// The overlay instance, opened with Ctrl/Cmd+K from anywhere.
/** @type {any} */
var overlay = null;
/** @type {Element | null} */
var returnFocus = null;

/** Open the overlay palette (fresh items, empty query). */
export function open() {
  if (!dialog) { return; }
  returnFocus = document.activeElement;
  overlay.input.value = "";
  overlay.refresh();
  dialog.showModal();
  overlay.input.focus();
}

export function close() {
  if (dialog && dialog.open) { dialog.close(); }
}

/**
 * Add the current page's items; `provider` is asked each time the palette opens.
 * @param {() => PaletteItem[]} provider
 */
export function register(provider) { providers.push(provider); }

document.addEventListener("DOMContentLoaded", function () {
  if (dialog) {
    var shown = dialog;
    overlay = new Palette(shown.querySelector(".palette"), { onEscape: close, onChoose: close });
    shown.addEventListener("close", function () {
      if (returnFocus instanceof HTMLElement) { returnFocus.focus(); }
    });
    shown.addEventListener("click", function (event) { if (event.target === shown) { close(); } });
  }
  document.querySelectorAll("[data-palette-inline]").forEach(function (container) {
    var inline = new Palette(container, {});
    inline.refresh();
    // Only while nothing else has focus: someone who already clicked into a field (the
    // new project's name, say) before the scripts ran keeps typing there.
    var idle = !document.activeElement || document.activeElement === document.body;
    if (container.hasAttribute("data-autofocus") && idle) { inline.input.focus(); }
  });
  document.querySelectorAll("[data-open-palette]").forEach(function (button) {
    button.addEventListener("click", open);
  });
});

document.addEventListener("keydown", function (event) {
  if ((event.metaKey || event.ctrlKey) && !event.altKey && (event.key === "k" || event.key === "K")) {
    event.preventDefault();
    if (dialog && dialog.open) { close(); } else { open(); }
  }
});
