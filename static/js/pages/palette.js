// The command palette (Ctrl/Cmd+K): projects and actions, fuzzy search, keyboard first.
//
// Items come from /palette.json (the person's projects) plus what the current page
// registers (`starterPalette.register(fn)`, fn returning [{group, label, hint, run|href}]).
// The home page shows the same palette inline, open by default.
(function () {
  "use strict";

  var providers = [];
  var projectsPromise = null;

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text != null) { node.textContent = text; }
    return node;
  }

  function csrfToken() {
    try { return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || ""; }
    catch (error) { return ""; }
  }

  function post(url) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRFToken": csrfToken() },
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        window.starterToast(data.message || (response.ok ? "Done." : "That did not work."),
          response.ok ? "info" : "error");
      });
    });
  }

  function loadProjects(force) {
    if (!projectsPromise || force) {
      projectsPromise = fetch("/palette.json", { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (response) { return response.ok ? response.json() : { projects: [] }; })
        .catch(function () { return { projects: [] }; });
    }
    return projectsPromise;
  }

  function projectItems(data) {
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
    return items;
  }

  var BASE_ITEMS = [
    { group: "Actions", label: "New project", hint: "Create a project and its machine", href: "/?new=1" },
    { group: "Actions", label: "Open the general agent", hint: "One chat across all your projects", href: "/agent/" },
    { group: "Actions", label: "Settings", hint: "Models, API keys, tokens", href: "/settings/" },
    { group: "Actions", label: "All projects", href: "/" },
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
      var option = event.target.closest("[role=option]");
      if (option) { self.choose(Number(option.dataset.index)); }
    });
    this.list.addEventListener("mousemove", function (event) {
      var option = event.target.closest("[role=option]");
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
      option.dataset.index = index;
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
    this.list.querySelectorAll("[role=option]").forEach(function (option) {
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
  var dialog = null;
  var overlay = null;
  var returnFocus = null;

  function openOverlay() {
    if (!dialog) { return; }
    returnFocus = document.activeElement;
    overlay.input.value = "";
    overlay.refresh();
    dialog.showModal();
    overlay.input.focus();
  }

  function closeOverlay() {
    if (dialog && dialog.open) { dialog.close(); }
  }

  document.addEventListener("DOMContentLoaded", function () {
    dialog = document.getElementById("palette");
    if (dialog) {
      overlay = new Palette(dialog.querySelector(".palette"), { onEscape: closeOverlay, onChoose: closeOverlay });
      dialog.addEventListener("close", function () { if (returnFocus && returnFocus.focus) { returnFocus.focus(); } });
      dialog.addEventListener("click", function (event) { if (event.target === dialog) { closeOverlay(); } });
    }
    document.querySelectorAll("[data-palette-inline]").forEach(function (container) {
      var inline = new Palette(container, {});
      inline.refresh();
      if (container.hasAttribute("data-autofocus")) { inline.input.focus(); }
      window.starterPalette.inline = inline;
    });
    document.querySelectorAll("[data-open-palette]").forEach(function (button) {
      button.addEventListener("click", openOverlay);
    });
  });

  document.addEventListener("keydown", function (event) {
    if ((event.metaKey || event.ctrlKey) && !event.altKey && (event.key === "k" || event.key === "K")) {
      event.preventDefault();
      if (dialog && dialog.open) { closeOverlay(); } else { openOverlay(); }
    }
  });

  window.starterPalette = {
    register: function (provider) { providers.push(provider); },
    open: openOverlay,
    close: closeOverlay,
    reload: function () { return loadProjects(true); },
  };
})();
