// @ts-check
// Resizable, splittable, closable panels whose arrangement is remembered per project.
//
// The layout is a tree: {type: "split", dir: "row"|"col", sizes: [..], children: [..]} or
// {type: "panel", id, kind, props}. It is saved to localStorage on every change. Panel
// bodies are created once per panel and moved (not rebuilt) when the tree changes, so a
// chat keeps its state while its neighbours are split or closed.

import { el, iconButton } from "../../lib/dom.js";

var STORAGE_PREFIX = "starter.layout.";
var MIN_FRACTION = 0.12;

var ICONS = {
  right: '<svg viewBox="0 0 16 16" aria-hidden="true"><rect x="1.5" y="2.5" width="13" height="11" rx="1.5" fill="none" stroke="currentColor"/><path d="M8 2.5v11" stroke="currentColor"/></svg>',
  down: '<svg viewBox="0 0 16 16" aria-hidden="true"><rect x="1.5" y="2.5" width="13" height="11" rx="1.5" fill="none" stroke="currentColor"/><path d="M1.5 8h13" stroke="currentColor"/></svg>',
  close: '<svg viewBox="0 0 16 16" aria-hidden="true"><path d="M4 4l8 8M12 4l-8 8" stroke="currentColor" stroke-width="1.5"/></svg>',
};

/**
 * @constructor
 * @param {HTMLElement} root where the panels go
 * @param {{projectId: string, kinds: Record<string, any>, initial: () => any, onEmpty?: () => void}} options
 */
export function Panels(root, options) {
  this.root = root;
  this.kinds = options.kinds;
  this.storageKey = STORAGE_PREFIX + options.projectId;
  this.onEmpty = options.onEmpty || function () {};
  this.mounted = {};  // panel id -> {element, body, title, instance}
  this.focusedId = null;
  this.layout = this.restore() || options.initial();
  this.counter = Date.now();
  this.render();
}

Panels.prototype.restore = function () {
  try {
    var saved = JSON.parse(window.localStorage.getItem(this.storageKey) || "null");
    return this.valid(saved) ? saved : null;
  } catch (error) {
    return null;
  }
};

Panels.prototype.valid = function (node) {
  var self = this;
  if (!node || typeof node !== "object") { return false; }
  if (node.type === "panel") { return Boolean(node.id && this.kinds[node.kind]); }
  return node.type === "split" && Array.isArray(node.children) && node.children.length >= 2 &&
    Array.isArray(node.sizes) && node.sizes.length === node.children.length &&
    node.children.every(function (child) { return self.valid(child); });
};

Panels.prototype.save = function () {
  try {
    window.localStorage.setItem(this.storageKey, JSON.stringify(this.layout));
  } catch (error) { /* private mode: the layout is simply not remembered */ }
};

Panels.prototype.newId = function () { this.counter += 1; return "p" + this.counter.toString(36); };

Panels.prototype.panels = function () {
  var found = [];
  (function walk(node) {
    if (!node) { return; }
    if (node.type === "panel") { found.push(node); return; }
    node.children.forEach(walk);
  })(this.layout);
  return found;
};

Panels.prototype.find = function (predicate) {
  return this.panels().filter(predicate)[0] || null;
};

// Open a panel next to `nearId` (or the focused one): to its right, or below with "col".
Panels.prototype.open = function (kind, props, placement) {
  placement = placement || {};
  var panel = { type: "panel", id: this.newId(), kind: kind, props: props || {} };
  if (!this.layout) {
    this.layout = panel;
  } else {
    var nearId = placement.nearId || this.focusedId || this.panels().slice(-1)[0].id;
    this.insertNext(nearId, panel, placement.dir || "row");
  }
  this.focusedId = panel.id;
  this.changed();
  this.focusPanel(panel.id);
  return panel;
};

Panels.prototype.insertNext = function (nearId, panel, dir) {
  var parentInfo = this.parentOf(nearId);
  var near = this.find(function (p) { return p.id === nearId; }) || this.panels().slice(-1)[0];
  if (parentInfo && parentInfo.parent.dir === dir) {
    var parent = parentInfo.parent;
    var index = parentInfo.index;
    var share = parent.sizes[index] / 2;
    parent.sizes[index] = share;
    parent.children.splice(index + 1, 0, panel);
    parent.sizes.splice(index + 1, 0, share);
    return;
  }
  var split = { type: "split", dir: dir, sizes: [1, 1], children: [near, panel] };
  this.replaceNode(near, split);
};

Panels.prototype.parentOf = function (id) {
  var result = null;
  (function walk(node) {
    if (!node || node.type !== "split" || result) { return; }
    node.children.forEach(function (child, index) {
      if (child.type === "panel" && child.id === id) { result = { parent: node, index: index }; }
      else { walk(child); }
    });
  })(this.layout);
  return result;
};

Panels.prototype.replaceNode = function (target, replacement) {
  if (this.layout === target) { this.layout = replacement; return; }
  (function walk(node) {
    if (!node || node.type !== "split") { return; }
    node.children.forEach(function (child, index) {
      if (child === target) { node.children[index] = replacement; } else { walk(child); }
    });
  })(this.layout);
};

Panels.prototype.close = function (id) {
  var mounted = this.mounted[id];
  if (mounted && mounted.instance && mounted.instance.destroy) { mounted.instance.destroy(); }
  delete this.mounted[id];
  if (this.layout && this.layout.type === "panel" && this.layout.id === id) {
    this.layout = null;
  } else {
    var info = this.parentOf(id);
    if (info) {
      info.parent.children.splice(info.index, 1);
      info.parent.sizes.splice(info.index, 1);
      if (info.parent.children.length === 1) { this.replaceNode(info.parent, info.parent.children[0]); }
    }
  }
  if (this.focusedId === id) { this.focusedId = null; }
  this.changed();
  if (!this.layout) { this.onEmpty(); }
};

Panels.prototype.update = function (id, props) {
  var panel = this.find(function (p) { return p.id === id; });
  if (!panel) { return; }
  Object.assign(panel.props, props);
  var mounted = this.mounted[id];
  if (mounted) { mounted.title.textContent = this.kinds[panel.kind].title(panel.props); }
  this.save();
};

// Turn a panel into another kind in place (the launcher becomes what was chosen).
Panels.prototype.replace = function (id, kind, props) {
  var panel = this.find(function (p) { return p.id === id; });
  if (!panel) { return; }
  var mounted = this.mounted[id];
  if (mounted && mounted.instance && mounted.instance.destroy) { mounted.instance.destroy(); }
  delete this.mounted[id];
  var fresh = { type: "panel", id: this.newId(), kind: kind, props: props || {} };
  this.replaceNode(panel, fresh);
  this.focusedId = fresh.id;
  this.changed();
  this.focusPanel(fresh.id);
};

Panels.prototype.changed = function () {
  this.save();
  this.render();
};

Panels.prototype.render = function () {
  var self = this;
  var live = {};
  var tree = this.layout ? this.renderNode(this.layout, live) : null;
  Object.keys(this.mounted).forEach(function (id) {
    if (!live[id]) {
      var gone = self.mounted[id];
      if (gone.instance && gone.instance.destroy) { gone.instance.destroy(); }
      delete self.mounted[id];
    }
  });
  this.root.textContent = "";
  if (tree) { this.root.appendChild(tree); }
};

Panels.prototype.renderNode = function (node, live) {
  if (node.type === "panel") {
    live[node.id] = true;
    return this.mount(node).element;
  }
  var self = this;
  var split = el("div", "split split-" + node.dir);
  node.children.forEach(function (child, index) {
    if (index > 0) { split.appendChild(self.gutter(node, index)); }
    var cell = el("div", "split-cell");
    cell.style.flex = node.sizes[index] + " 1 0px";
    cell.appendChild(self.renderNode(child, live));
    split.appendChild(cell);
  });
  return split;
};

Panels.prototype.mount = function (panel) {
  var self = this;
  var existing = this.mounted[panel.id];
  if (existing) { return existing; }
  var kind = this.kinds[panel.kind];
  var element = el("section", "panel panel-" + panel.kind);
  element.dataset.panelId = panel.id;
  element.dataset.kind = panel.kind;
  var header = el("header", "panel-header");
  var title = el("h2", "panel-title", kind.title(panel.props));
  var actions = el("div", "panel-actions");
  actions.append(
    iconButton("Split right", ICONS.right, function () { self.split(panel.id, "row"); }),
    iconButton("Split down", ICONS.down, function () { self.split(panel.id, "col"); }),
    iconButton("Close panel", ICONS.close, function () { self.close(panel.id); }));
  header.append(title, actions);
  var body = el("div", "panel-body");
  element.append(header, body);
  element.addEventListener("focusin", function () { self.focusedId = panel.id; self.markFocus(); });
  element.addEventListener("pointerdown", function () { self.focusedId = panel.id; self.markFocus(); });
  var mounted = { element: element, body: body, title: title, instance: null };
  this.mounted[panel.id] = mounted;
  mounted.instance = kind.mount(body, panel.props, {
    id: panel.id,
    setProps: function (props) { self.update(panel.id, props); },
    close: function () { self.close(panel.id); },
    replace: function (kind, props) { self.replace(panel.id, kind, props); },
    header: actions,
  });
  return mounted;
};

// A new panel beside this one: the same kind for chats (a new conversation), else a chooser.
Panels.prototype.split = function (id, dir) {
  var panel = this.find(function (p) { return p.id === id; });
  var kind = panel && panel.kind === "chat" ? "chat" : "launcher";
  this.open(kind, kind === "chat" ? { sessionId: null, fresh: true } : {}, { nearId: id, dir: dir });
};

Panels.prototype.focusPanel = function (id) {
  var mounted = this.mounted[id];
  this.markFocus();
  if (!mounted) { return; }
  var target = mounted.body.querySelector("textarea, input, button, [tabindex]");
  if (target) { target.focus({ preventScroll: true }); }
};

Panels.prototype.markFocus = function () {
  var self = this;
  Object.keys(this.mounted).forEach(function (id) {
    self.mounted[id].element.classList.toggle("is-focused", id === self.focusedId);
  });
};

Panels.prototype.gutter = function (split, index) {
  var self = this;
  var gutter = el("div", "gutter gutter-" + split.dir);
  gutter.setAttribute("role", "separator");
  gutter.setAttribute("aria-orientation", split.dir === "row" ? "vertical" : "horizontal");
  gutter.setAttribute("aria-label", "Resize panels");
  // A focusable separator is a widget: it says where it stands (the share of the panel
  // before it, in percent).
  gutter.setAttribute("aria-valuemin", "0");
  gutter.setAttribute("aria-valuemax", "100");
  function announce() {
    var total = split.sizes[index - 1] + split.sizes[index];
    gutter.setAttribute("aria-valuenow", String(Math.round((split.sizes[index - 1] / (total || 1)) * 100)));
  }
  announce();
  gutter.tabIndex = 0;
  function resizeBy(fractionDelta) {
    var total = split.sizes[index - 1] + split.sizes[index];
    var minimum = total * MIN_FRACTION;
    var before = Math.min(total - minimum, Math.max(minimum, split.sizes[index - 1] + fractionDelta * total));
    split.sizes[index - 1] = before;
    split.sizes[index] = total - before;
    var cells = gutter.parentNode ? gutter.parentNode.querySelectorAll(":scope > .split-cell") : [];
    if (cells[index - 1]) { cells[index - 1].style.flex = split.sizes[index - 1] + " 1 0px"; }
    if (cells[index]) { cells[index].style.flex = split.sizes[index] + " 1 0px"; }
    announce();
  }
  gutter.addEventListener("pointerdown", function (event) {
    event.preventDefault();
    var previous = /** @type {HTMLElement} */ (gutter.previousElementSibling);
    var next = /** @type {HTMLElement} */ (gutter.nextElementSibling);
    var horizontal = split.dir === "row";
    var span = horizontal ? previous.offsetWidth + next.offsetWidth : previous.offsetHeight + next.offsetHeight;
    var start = horizontal ? event.clientX : event.clientY;
    var startBefore = split.sizes[index - 1];
    var total = split.sizes[index - 1] + split.sizes[index];
    gutter.setPointerCapture(event.pointerId);
    document.body.classList.add("is-resizing");
    function move(moveEvent) {
      var position = horizontal ? moveEvent.clientX : moveEvent.clientY;
      var wanted = startBefore + ((position - start) / Math.max(1, span)) * total;
      resizeBy((wanted - split.sizes[index - 1]) / total);
    }
    function up() {
      gutter.removeEventListener("pointermove", move);
      gutter.removeEventListener("pointerup", up);
      document.body.classList.remove("is-resizing");
      self.save();
    }
    gutter.addEventListener("pointermove", move);
    gutter.addEventListener("pointerup", up);
  });
  gutter.addEventListener("keydown", function (event) {
    var step = event.shiftKey ? 0.1 : 0.03;
    var back = split.dir === "row" ? "ArrowLeft" : "ArrowUp";
    var forward = split.dir === "row" ? "ArrowRight" : "ArrowDown";
    if (event.key === back) { resizeBy(-step); } else if (event.key === forward) { resizeBy(step); } else { return; }
    event.preventDefault();
    self.save();
  });
  return gutter;
};
