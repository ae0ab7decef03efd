// @ts-check
// Panels people arrange: resizable, splittable, closable, movable by drag (or from a menu),
// stackable as tabs; the arrangement is remembered per project.
//
// The layout is a tree of three node types:
//   {type: "split", dir: "row"|"col", sizes: [..], children: [..]}
//   {type: "tabs", id, active: panelId, children: [panel, ..]}   (a group of stacked panels)
//   {type: "panel", id, kind, props}
// A "leaf" is a panel or a tabs group: what takes one cell of a split. The tree is saved to
// localStorage on every change and cleaned on the way back in (unknown kinds dropped, the
// rest kept), so a layout saved by an older page still loads. Panel bodies are created once
// per panel and moved (not rebuilt) when the tree changes, so a chat keeps its state and a
// terminal its xterm while panels are split, stacked, moved or closed around them.

import { el, iconButton } from "../../lib/dom.js";

var STORAGE_PREFIX = "starter.layout.";
var MIN_FRACTION = 0.12;
// Where on a panel a drop splits beside it rather than stacking: this share of each side.
var EDGE_FRACTION = 0.25;
// How far the pointer moves before a press on a header or tab becomes a drag.
var DRAG_THRESHOLD = 5;

var ICONS = {
  right: '<svg viewBox="0 0 16 16" aria-hidden="true"><rect x="1.5" y="2.5" width="13" height="11" rx="1.5" fill="none" stroke="currentColor"/><path d="M8 2.5v11" stroke="currentColor"/></svg>',
  down: '<svg viewBox="0 0 16 16" aria-hidden="true"><rect x="1.5" y="2.5" width="13" height="11" rx="1.5" fill="none" stroke="currentColor"/><path d="M1.5 8h13" stroke="currentColor"/></svg>',
  close: '<svg viewBox="0 0 16 16" aria-hidden="true"><path d="M4 4l8 8M12 4l-8 8" stroke="currentColor" stroke-width="1.5"/></svg>',
  move: '<svg viewBox="0 0 16 16" aria-hidden="true"><path d="M8 1.5v13M1.5 8h13M8 1.5l-2 2M8 1.5l2 2M8 14.5l-2-2M8 14.5l2-2M1.5 8l2-2M1.5 8l2 2M14.5 8l-2-2M14.5 8l-2 2" fill="none" stroke="currentColor" stroke-width="1.2"/></svg>',
};

// The keyboard's ways between panels (also listed in the palette and the README).
export var SHORTCUTS = [
  { keys: "Alt+]", label: "Next panel" },
  { keys: "Alt+[", label: "Previous panel" },
  { keys: "Alt+Shift+Arrow", label: "The panel to the left, right, above or below" },
];

var ZONE_LABELS = { left: "Left of", right: "Right of", top: "Above", bottom: "Below", center: "Stack with" };

/**
 * @typedef {{type: "panel", id: string, kind: string, props: Record<string, any>}} PanelNode
 * @typedef {{type: "tabs", id: string, active: string, children: PanelNode[]}} TabsNode
 * @typedef {{type: "split", dir: "row"|"col", sizes: number[], children: any[]}} SplitNode
 * @typedef {"left"|"right"|"top"|"bottom"|"center"} Zone
 */

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
  this.mounted = {};  // panel id -> {element, header, body, title, instance}
  this.focusedId = null;
  /** @type {any} */
  this.drag = null;
  this.draggedAt = 0;  // when the last drag ended, and what it held: that click is no tab switch
  /** @type {Element | null} */
  this.draggedHandle = null;
  /** @type {any} */
  this.menu = null;  // the open "Move panel" menu
  /** @type {any} */
  this.outsideMenu = null;
  this.counter = Date.now();
  this.layout = this.restore() || options.initial();
  this.render();
  this.listenForShortcuts();
}

Panels.prototype.restore = function () {
  try {
    var saved = JSON.parse(window.localStorage.getItem(this.storageKey) || "null");
    return this.clean(saved, {});
  } catch (error) {
    return null;
  }
};

// A saved tree made safe to render: panels of kinds this page does not know (or of no shape
// at all) are dropped, groups left with one member collapse, sizes that do not match are
// evened out, duplicate ids are dropped. What remains is kept: one odd panel never costs
// the person the rest of their arrangement.
Panels.prototype.clean = function (node, seen) {
  var self = this;
  if (!node || typeof node !== "object") { return null; }
  if (node.type === "panel") {
    if (typeof node.id !== "string" || !node.id || seen[node.id] || typeof node.kind !== "string" ||
        !Object.prototype.hasOwnProperty.call(this.kinds, node.kind)) { return null; }
    seen[node.id] = true;
    var props = node.props && typeof node.props === "object" && !Array.isArray(node.props) ? node.props : {};
    return { type: "panel", id: node.id, kind: node.kind, props: props };
  }
  if (!Array.isArray(node.children)) { return null; }
  if (node.type === "tabs") {
    var members = node.children.map(function (child) {
      return child && child.type === "panel" ? self.clean(child, seen) : null;
    }).filter(Boolean);
    if (members.length === 0) { return null; }
    if (members.length === 1) { return members[0]; }
    var id = typeof node.id === "string" && node.id && !seen[node.id] ? node.id : this.newId();
    seen[id] = true;
    var active = members.some(function (member) { return member.id === node.active; }) ? node.active : members[0].id;
    return { type: "tabs", id: id, active: active, children: members };
  }
  if (node.type !== "split") { return null; }
  var dir = node.dir === "col" ? "col" : "row";
  var children = [];
  var sizes = [];
  node.children.forEach(function (child, index) {
    var kept = self.clean(child, seen);
    if (!kept) { return; }
    var size = Array.isArray(node.sizes) ? Number(node.sizes[index]) : NaN;
    children.push(kept);
    sizes.push(isFinite(size) && size > 0 ? size : 1);
  });
  if (children.length === 0) { return null; }
  if (children.length === 1) { return children[0]; }
  return { type: "split", dir: dir, sizes: sizes, children: children };
};

// Kept for callers of the old API: whether a saved tree loads as it is.
Panels.prototype.valid = function (node) {
  return this.clean(node, {}) !== null;
};

Panels.prototype.save = function () {
  try {
    window.localStorage.setItem(this.storageKey, JSON.stringify(this.layout));
  } catch (error) { /* private mode: the layout is simply not remembered */ }
};

Panels.prototype.newId = function () { this.counter += 1; return "p" + this.counter.toString(36); };

/** @returns {PanelNode[]} every panel, in the order they appear (tabs in strip order) */
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

Panels.prototype.byId = function (id) {
  return this.find(function (p) { return p.id === id; });
};

/**
 * What other scripts (a narrow screen's switcher…) list: every panel, its title, whether it
 * shows now (not a background tab) and whether it has the focus.
 * @returns {Array<{id: string, kind: string, title: string, visible: boolean, focused: boolean}>}
 */
Panels.prototype.list = function () {
  var self = this;
  return this.panels().map(function (panel) {
    var group = self.groupOf(panel.id);
    return {
      id: panel.id,
      kind: panel.kind,
      title: self.titleOf(panel),
      visible: !group || group.active === panel.id,
      focused: self.focusedId === panel.id,
    };
  });
};

Panels.prototype.titleOf = function (panel) {
  return String(this.kinds[panel.kind].title(panel.props));
};

// The tabs group a panel is stacked in, if any.
/** @returns {TabsNode | null} */
Panels.prototype.groupOf = function (id) {
  var result = null;
  (function walk(node) {
    if (!node || node.type === "panel" || result) { return; }
    if (node.type === "tabs" && node.children.some(function (child) { return child.id === id; })) { result = node; return; }
    node.children.forEach(walk);
  })(this.layout);
  return result;
};

// The leaf holding this panel: its tabs group, or the panel itself.
Panels.prototype.leafOf = function (id) {
  return this.groupOf(id) || this.byId(id);
};

// Any node by id (a panel or a tabs group).
Panels.prototype.nodeById = function (id) {
  var result = null;
  (function walk(node) {
    if (!node || result) { return; }
    if ((node.type === "panel" || node.type === "tabs") && node.id === id) { result = node; return; }
    if (node.children) { node.children.forEach(walk); }
  })(this.layout);
  return result;
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
  var near = this.leafOf(nearId) || this.panels().slice(-1)[0];
  this.insertBeside(near, panel, dir, false);
};

// Put `panel` in a split beside the leaf `near`: into its parent split when that one runs
// the same way (sharing `near`'s room), else into a new split of the two.
Panels.prototype.insertBeside = function (near, panel, dir, before) {
  var parentInfo = this.parentOf(near.id);
  if (parentInfo && parentInfo.parent.type === "split" && parentInfo.parent.dir === dir) {
    var parent = parentInfo.parent;
    var index = parentInfo.index;
    var share = parent.sizes[index] / 2;
    parent.sizes[index] = share;
    parent.children.splice(before ? index : index + 1, 0, panel);
    parent.sizes.splice(before ? index : index + 1, 0, share);
    return;
  }
  var split = { type: "split", dir: dir, sizes: [1, 1], children: before ? [panel, near] : [near, panel] };
  this.replaceNode(near, split);
};

// The node (split or tabs) whose child has this id, and where.
Panels.prototype.parentOf = function (id) {
  var result = null;
  (function walk(node) {
    if (!node || node.type === "panel" || result) { return; }
    node.children.forEach(function (child, index) {
      if (result) { return; }
      if ((child.type === "panel" || child.type === "tabs") && child.id === id) { result = { parent: node, index: index }; }
      else { walk(child); }
    });
  })(this.layout);
  return result;
};

Panels.prototype.replaceNode = function (target, replacement) {
  if (this.layout === target) { this.layout = replacement; return; }
  (function walk(node) {
    if (!node || node.type === "panel") { return; }
    node.children.forEach(function (child, index) {
      if (child === target) {
        node.children[index] = replacement;
        if (node.type === "tabs" && node.active === target.id) { node.active = replacement.id; }
      } else { walk(child); }
    });
  })(this.layout);
};

// Take a panel out of the tree without destroying it; `tidy` then collapses what is left.
Panels.prototype.detach = function (id) {
  if (this.layout && this.layout.type === "panel" && this.layout.id === id) { this.layout = null; return; }
  var info = this.parentOf(id);
  if (!info) { return; }
  info.parent.children.splice(info.index, 1);
  if (info.parent.type === "split") { info.parent.sizes.splice(info.index, 1); }
  if (info.parent.type === "tabs" && info.parent.active === id) {
    var next = info.parent.children[Math.min(info.index, info.parent.children.length - 1)];
    info.parent.active = next ? next.id : "";
  }
};

// Collapse groups and splits with one member, drop empty ones, and fold a split into its
// parent when both run the same way (so moving panels around never nests needlessly).
Panels.prototype.tidy = function () {
  function tidy(node) {
    if (!node || node.type === "panel") { return node; }
    if (node.type === "tabs") {
      if (node.children.length === 0) { return null; }
      if (node.children.length === 1) { return node.children[0]; }
      if (!node.children.some(function (child) { return child.id === node.active; })) { node.active = node.children[0].id; }
      return node;
    }
    var children = [];
    var sizes = [];
    node.children.forEach(function (child, index) {
      var kept = tidy(child);
      if (!kept) { return; }
      if (kept.type === "split" && kept.dir === node.dir) {
        var total = kept.sizes.reduce(function (a, b) { return a + b; }, 0) || 1;
        kept.children.forEach(function (grandchild, inner) {
          children.push(grandchild);
          sizes.push(node.sizes[index] * kept.sizes[inner] / total);
        });
      } else {
        children.push(kept);
        sizes.push(node.sizes[index]);
      }
    });
    if (children.length === 0) { return null; }
    if (children.length === 1) { return children[0]; }
    node.children = children;
    node.sizes = sizes;
    return node;
  }
  this.layout = tidy(this.layout);
};

Panels.prototype.close = function (id) {
  var mounted = this.mounted[id];
  if (mounted && mounted.instance && mounted.instance.destroy) { mounted.instance.destroy(); }
  delete this.mounted[id];
  this.detach(id);
  this.tidy();
  if (this.focusedId === id) { this.focusedId = null; }
  this.changed();
  if (!this.layout) { this.onEmpty(); }
};

/**
 * Move a panel: beside the leaf `targetId` (a panel, or a tabs group) on one of its edges,
 * or stacked into it as a tab ("center", at `index` in the strip, else last). Its body is
 * moved, never rebuilt.
 * @param {string} id the panel to move
 * @param {string} targetId a panel or tabs group
 * @param {Zone} zone
 * @param {number} [index]
 */
Panels.prototype.move = function (id, targetId, zone, index) {
  var panel = this.byId(id);
  var target = this.nodeById(targetId);
  if (!panel || !target) { return false; }
  // A panel in a group, aimed at that group's other member: aim at the group.
  var targetGroup = target.type === "panel" ? this.groupOf(target.id) : null;
  if (targetGroup) { target = targetGroup; }
  if (target === panel && zone === "center") { return false; }
  if (target === panel) { return false; }  // beside itself: where it already is
  var ownGroup = this.groupOf(id);
  if (zone === "center" && ownGroup === target && index == null) { return false; }
  if (zone !== "center" && target.type === "tabs" && ownGroup === target && target.children.length === 1) { return false; }
  this.detach(id);
  if (zone === "center") {
    if (target.type === "tabs") {
      var at = index == null ? target.children.length : Math.max(0, Math.min(index, target.children.length));
      target.children.splice(at, 0, panel);
      target.active = panel.id;
    } else {
      this.replaceNode(target, { type: "tabs", id: this.newId(), active: panel.id, children: [target, panel] });
    }
  } else {
    this.insertBeside(target, panel, zone === "left" || zone === "right" ? "row" : "col", zone === "left" || zone === "top");
  }
  this.tidy();
  this.focusedId = id;
  this.changed();
  this.focusPanel(id);
  return true;
};

Panels.prototype.update = function (id, props) {
  var panel = this.byId(id);
  if (!panel) { return; }
  Object.assign(panel.props, props);
  var mounted = this.mounted[id];
  if (mounted) {
    var title = this.titleOf(panel);
    mounted.title.textContent = title;
    var tab = this.root.querySelector('[role="tab"][data-panel-id="' + CSS.escape(id) + '"] .panel-tab-label');
    if (tab) { tab.textContent = title; }
  }
  this.save();
};

// Turn a panel into another kind in place (the launcher becomes what was chosen).
Panels.prototype.replace = function (id, kind, props) {
  var panel = this.byId(id);
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
  this.markFocus();
  // For what builds on the layout (a narrow screen's panel switcher).
  this.root.dispatchEvent(new CustomEvent("starter:panels-changed", { bubbles: true }));
};

Panels.prototype.renderNode = function (node, live) {
  if (node.type === "panel") {
    live[node.id] = true;
    var alone = this.mount(node);
    this.asTabPanel(alone, null);
    return alone.element;
  }
  if (node.type === "tabs") { return this.renderTabs(node, live); }
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

// A panel's section as a member of a tab group (its tab labels it), or on its own.
Panels.prototype.asTabPanel = function (mounted, tabId) {
  var element = mounted.element;
  if (tabId) {
    element.setAttribute("role", "tabpanel");
    element.setAttribute("aria-labelledby", tabId);
  } else {
    element.removeAttribute("role");
    element.removeAttribute("aria-labelledby");
    element.hidden = false;
  }
};

/** @param {TabsNode} node */
Panels.prototype.renderTabs = function (node, live) {
  var self = this;
  var group = el("div", "panel-group");
  group.dataset.groupId = node.id;
  var strip = el("div", "panel-tabs");
  strip.setAttribute("role", "tablist");
  strip.setAttribute("aria-label", "Stacked panels");
  group.appendChild(strip);
  node.children.forEach(function (panel) {
    live[panel.id] = true;
    var mounted = self.mount(panel);
    var selected = panel.id === node.active;
    var tabId = "tab-" + panel.id;
    var tab = el("div", "panel-tab" + (selected ? " is-active" : ""));
    tab.id = tabId;
    tab.dataset.panelId = panel.id;
    tab.setAttribute("role", "tab");
    tab.setAttribute("aria-selected", selected ? "true" : "false");
    tab.setAttribute("aria-controls", mounted.element.id);
    tab.tabIndex = selected ? 0 : -1;
    tab.title = self.titleOf(panel) + " — middle-click or Delete closes";
    var label = el("span", "panel-tab-label", self.titleOf(panel));
    // A mouse target only: a focusable button inside a tab is not allowed, so the keyboard
    // closes a tab with Delete (or the panel's own "Close panel" button).
    var closer = el("span", "panel-tab-close");
    closer.setAttribute("aria-hidden", "true");
    closer.innerHTML = ICONS.close;
    closer.addEventListener("click", function (event) { event.stopPropagation(); self.close(panel.id); });
    closer.addEventListener("pointerdown", function (event) { event.stopPropagation(); });
    tab.append(label, closer);
    tab.addEventListener("click", function () {
      if (self.draggedHandle === tab && Date.now() - self.draggedAt < 300) { return; }
      self.activate(panel.id, true);
    });
    // The middle button closes a tab, as in every browser; its press must not autoscroll.
    tab.addEventListener("mousedown", function (event) { if (event.button === 1) { event.preventDefault(); } });
    tab.addEventListener("auxclick", function (event) {
      if (event.button === 1) { event.preventDefault(); self.close(panel.id); }
    });
    tab.addEventListener("keydown", function (event) { self.tabKey(node, panel.id, event); });
    self.draggable(tab, panel.id);
    strip.appendChild(tab);
    self.asTabPanel(mounted, tabId);
    mounted.element.hidden = !selected;
    group.appendChild(mounted.element);
  });
  return group;
};

/**
 * @param {TabsNode} node
 * @param {string} id
 * @param {KeyboardEvent} event
 */
Panels.prototype.tabKey = function (node, id, event) {
  var index = node.children.findIndex(function (child) { return child.id === id; });
  var next = null;
  if (event.key === "ArrowRight") { next = node.children[(index + 1) % node.children.length]; }
  else if (event.key === "ArrowLeft") { next = node.children[(index - 1 + node.children.length) % node.children.length]; }
  else if (event.key === "Home") { next = node.children[0]; }
  else if (event.key === "End") { next = node.children[node.children.length - 1]; }
  else if (event.key === "Delete") { event.preventDefault(); this.close(id); return; }
  if (!next) { return; }
  event.preventDefault();
  this.activate(next.id, false);
  var tab = this.root.querySelector('[role="tab"][data-panel-id="' + CSS.escape(next.id) + '"]');
  if (tab) { /** @type {HTMLElement} */ (tab).focus(); }
};

// Bring a stacked panel to the front of its group (a no-op for a panel on its own).
Panels.prototype.activate = function (id, focusBody) {
  var group = this.groupOf(id);
  this.focusedId = id;
  if (group && group.active !== id) {
    group.active = id;
    this.changed();
  } else {
    this.markFocus();
  }
  if (focusBody) { this.focusPanel(id); }
};

// What other scripts call: show a panel (its tab to the front) and give it the focus.
Panels.prototype.show = function (id) { this.activate(id, false); };
Panels.prototype.focus = function (id) { this.activate(id, true); };

Panels.prototype.mount = function (panel) {
  var self = this;
  var existing = this.mounted[panel.id];
  if (existing) { return existing; }
  var kind = this.kinds[panel.kind];
  var element = el("section", "panel panel-" + panel.kind);
  element.id = "panel-" + panel.id;
  element.dataset.panelId = panel.id;
  element.dataset.kind = panel.kind;
  var header = el("header", "panel-header");
  var title = el("h2", "panel-title", kind.title(panel.props));
  var actions = el("div", "panel-actions");
  var mover = iconButton("Move panel", ICONS.move, function () { self.moveMenu(panel.id, mover); });
  mover.setAttribute("aria-haspopup", "menu");
  mover.setAttribute("aria-expanded", "false");
  actions.append(
    mover,
    iconButton("Split right", ICONS.right, function () { self.split(panel.id, "row"); }),
    iconButton("Split down", ICONS.down, function () { self.split(panel.id, "col"); }),
    iconButton("Close panel", ICONS.close, function () { self.close(panel.id); }));
  header.append(title, actions);
  header.title = "Drag to move: onto an edge of another panel to split, onto its middle to stack as tabs";
  this.draggable(header, panel.id);
  var body = el("div", "panel-body");
  element.append(header, body);
  element.addEventListener("focusin", function () { self.focusedId = panel.id; self.markFocus(); });
  element.addEventListener("pointerdown", function () { self.focusedId = panel.id; self.markFocus(); });
  var mounted = { element: element, header: header, body: body, title: title, instance: null };
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
  var panel = this.byId(id);
  var kind = panel && panel.kind === "chat" ? "chat" : "launcher";
  this.open(kind, kind === "chat" ? { sessionId: null, fresh: true } : {}, { nearId: id, dir: dir });
};

Panels.prototype.focusPanel = function (id) {
  var group = this.groupOf(id);
  if (group && group.active !== id) { group.active = id; this.changed(); }
  var mounted = this.mounted[id];
  this.markFocus();
  if (!mounted) { return; }
  var target = mounted.body.querySelector("textarea, input, button, [tabindex]");
  if (target) { target.focus({ preventScroll: true }); }
  else { mounted.header.querySelector("button").focus({ preventScroll: true }); }
};

Panels.prototype.markFocus = function () {
  var self = this;
  Object.keys(this.mounted).forEach(function (id) {
    self.mounted[id].element.classList.toggle("is-focused", id === self.focusedId);
  });
  this.root.dispatchEvent(new CustomEvent("panels:change"));
};

// -- moving panels with the pointer --------------------------------------------------------

// A press on `handle` (a panel's header, a tab) that travels becomes a drag of the panel.
Panels.prototype.draggable = function (handle, id) {
  var self = this;
  handle.addEventListener("pointerdown", function (event) {
    if (event.button !== 0 || self.drag) { return; }
    var onControl = /** @type {Element} */ (event.target).closest("button, input, select, textarea, a, .panel-tab-close");
    if (onControl) { return; }
    var startX = event.clientX;
    var startY = event.clientY;
    var pointerId = event.pointerId;
    var dragging = false;
    // Captured, so the drag goes on over the preview's iframe (which would swallow moves).
    handle.setPointerCapture(pointerId);
    function move(moveEvent) {
      if (!dragging) {
        if (Math.abs(moveEvent.clientX - startX) + Math.abs(moveEvent.clientY - startY) < DRAG_THRESHOLD) { return; }
        dragging = true;
        self.startDrag(id);
      }
      self.dragOver(moveEvent.clientX, moveEvent.clientY);
    }
    function end(endEvent) {
      handle.removeEventListener("pointermove", move);
      handle.removeEventListener("pointerup", end);
      handle.removeEventListener("pointercancel", end);
      if (handle.hasPointerCapture(pointerId)) { handle.releasePointerCapture(pointerId); }
      if (!dragging) { return; }
      // The click that follows a drag must not also switch tabs (see renderTabs).
      self.draggedAt = Date.now();
      self.draggedHandle = handle;
      self.endDrag(endEvent.type === "pointerup");
    }
    handle.addEventListener("pointermove", move);
    handle.addEventListener("pointerup", end);
    handle.addEventListener("pointercancel", end);
  });
};

Panels.prototype.startDrag = function (id) {
  var overlay = el("div", "drop-overlay");
  overlay.setAttribute("aria-hidden", "true");
  overlay.hidden = true;
  document.body.appendChild(overlay);
  document.body.classList.add("is-dragging-panel");
  var mounted = this.mounted[id];
  if (mounted) { mounted.element.classList.add("is-dragged"); }
  this.drag = { id: id, overlay: overlay, target: null };
};

// Where a drop at (x, y) would go: a leaf and a zone of it, or a place in a tab strip.
Panels.prototype.dropAt = function (x, y) {
  var hit = document.elementFromPoint(x, y);
  if (!hit || !this.root.contains(hit)) { return null; }
  var strip = hit.closest(".panel-tabs");
  if (strip) {
    var group = /** @type {HTMLElement} */ (strip.closest(".panel-group"));
    var self = this;
    var tabs = Array.prototype.filter.call(strip.querySelectorAll('[role="tab"]'), function (tab) {
      return tab.dataset.panelId !== self.drag.id;
    });
    var index = tabs.filter(function (tab) {
      var box = tab.getBoundingClientRect();
      return box.left + box.width / 2 < x;
    }).length;
    var stripBox = strip.getBoundingClientRect();
    var marker = index < tabs.length ? tabs[index].getBoundingClientRect().left
      : (tabs.length ? tabs[tabs.length - 1].getBoundingClientRect().right : stripBox.left);
    return { targetId: group.dataset.groupId, zone: "center", index: index,
      box: { left: marker - 2, top: stripBox.top, width: 4, height: stripBox.height } };
  }
  var leaf = /** @type {HTMLElement | null} */ (hit.closest(".panel-group") || hit.closest(".panel"));
  if (!leaf) { return null; }
  var targetId = leaf.dataset.groupId || leaf.dataset.panelId || "";
  var box = leaf.getBoundingClientRect();
  var fx = (x - box.left) / Math.max(1, box.width);
  var fy = (y - box.top) / Math.max(1, box.height);
  var edges = [["left", fx], ["right", 1 - fx], ["top", fy], ["bottom", 1 - fy]];
  edges.sort(function (a, b) { return Number(a[1]) - Number(b[1]); });
  var zone = /** @type {Zone} */ (Number(edges[0][1]) < EDGE_FRACTION ? edges[0][0] : "center");
  var shown = { left: box.left, top: box.top, width: box.width, height: box.height };
  if (zone === "left" || zone === "right") { shown.width = box.width / 2; }
  if (zone === "right") { shown.left = box.left + box.width / 2; }
  if (zone === "top" || zone === "bottom") { shown.height = box.height / 2; }
  if (zone === "bottom") { shown.top = box.top + box.height / 2; }
  return { targetId: targetId, zone: zone, index: undefined, box: shown };
};

Panels.prototype.dragOver = function (x, y) {
  var drag = this.drag;
  if (!drag) { return; }
  var drop = this.dropAt(x, y);
  // Dropping a lone panel onto itself goes nowhere: show nothing.
  if (drop && drop.targetId === drag.id) { drop = null; }
  drag.target = drop;
  var overlay = drag.overlay;
  overlay.hidden = !drop;
  if (!drop) { return; }
  overlay.className = "drop-overlay drop-" + drop.zone + (drop.index != null ? " drop-tab" : "");
  overlay.dataset.zone = drop.zone;
  overlay.style.left = drop.box.left + "px";
  overlay.style.top = drop.box.top + "px";
  overlay.style.width = drop.box.width + "px";
  overlay.style.height = drop.box.height + "px";
};

Panels.prototype.endDrag = function (drop) {
  var drag = this.drag;
  this.drag = null;
  if (!drag) { return; }
  drag.overlay.remove();
  document.body.classList.remove("is-dragging-panel");
  var mounted = this.mounted[drag.id];
  if (mounted) { mounted.element.classList.remove("is-dragged"); }
  if (drop && drag.target) { this.move(drag.id, drag.target.targetId, drag.target.zone, drag.target.index); }
};

// -- moving panels with the keyboard ---------------------------------------------------------

// The "Move panel" menu: the same moves as a drag, as a list of choices.
Panels.prototype.moveMenu = function (id, button) {
  var self = this;
  var open = /** @type {HTMLElement | null} */ (document.querySelector(".move-menu"));
  if (open) {
    var wasOwn = open.dataset.panelId === id;
    this.closeMenu(false);
    if (wasOwn) { return; }
  }
  var menu = el("div", "move-menu");
  menu.dataset.panelId = id;
  menu.setAttribute("role", "menu");
  menu.setAttribute("aria-label", "Move this panel");
  var ownGroup = this.groupOf(id);
  var items = [];
  // Two chats are both "Chat": number the repeats so each choice says which one.
  var seen = {};
  this.panels().forEach(function (other) {
    var title = self.titleOf(other);
    seen[title] = (seen[title] || 0) + 1;
    if (other.id === id) { return; }
    if (seen[title] > 1) { title += " (" + seen[title] + ")"; }
    var sameGroup = ownGroup && self.groupOf(other.id) === ownGroup;
    ["left", "right", "top", "bottom", "center"].forEach(function (zone) {
      if (zone === "center" && sameGroup) { return; }
      var item = el("button", "move-menu-item", ZONE_LABELS[zone] + " " + title);
      item.type = "button";
      item.setAttribute("role", "menuitem");
      item.tabIndex = -1;
      item.addEventListener("click", function () {
        self.closeMenu(false);
        self.move(id, other.id, /** @type {Zone} */ (zone));
      });
      items.push(item);
    });
  });
  if (!items.length) {
    var none = el("p", "move-menu-empty muted small", "Open another panel to move this one beside it.");
    menu.appendChild(none);
  }
  items.forEach(function (item) { menu.appendChild(item); });
  menu.addEventListener("keydown", function (event) {
    var at = items.indexOf(/** @type {any} */ (document.activeElement));
    if (event.key === "Escape") { event.preventDefault(); self.closeMenu(true); return; }
    if (event.key === "Tab") { self.closeMenu(false); return; }
    var next = null;
    if (event.key === "ArrowDown") { next = items[(at + 1) % items.length]; }
    else if (event.key === "ArrowUp") { next = items[(at - 1 + items.length) % items.length]; }
    else if (event.key === "Home") { next = items[0]; }
    else if (event.key === "End") { next = items[items.length - 1]; }
    if (next) { event.preventDefault(); next.focus(); }
  });
  var mounted = this.mounted[id];
  mounted.header.appendChild(menu);
  button.setAttribute("aria-expanded", "true");
  this.menu = { element: menu, button: button };
  var first = items[0] || null;
  if (first) { first.focus(); }
  setTimeout(function () { document.addEventListener("pointerdown", self.outsideMenu = function (event) {
    if (!menu.contains(/** @type {Node} */ (event.target))) { self.closeMenu(false); }
  }); }, 0);
};

Panels.prototype.closeMenu = function (refocus) {
  var menu = this.menu;
  this.menu = null;
  if (this.outsideMenu) { document.removeEventListener("pointerdown", this.outsideMenu); this.outsideMenu = null; }
  if (!menu) { return; }
  menu.element.remove();
  menu.button.setAttribute("aria-expanded", "false");
  if (refocus) { menu.button.focus(); }
};

// -- moving the focus between panels -------------------------------------------------------

Panels.prototype.listenForShortcuts = function () {
  var self = this;
  document.addEventListener("keydown", function (event) {
    if (!self.root.isConnected || self.root.hidden || !event.altKey || event.ctrlKey || event.metaKey) { return; }
    var step = null;
    if (!event.shiftKey && event.code === "BracketRight") { step = 1; }
    else if (!event.shiftKey && event.code === "BracketLeft") { step = -1; }
    var direction = event.shiftKey ? { ArrowLeft: "left", ArrowRight: "right", ArrowUp: "up", ArrowDown: "down" }[event.key] : null;
    if (step == null && !direction) { return; }
    event.preventDefault();
    if (step != null) { self.focusNext(step); } else { self.focusToward(direction); }
  });
};

// Give the focus to the next (1) or previous (-1) panel that shows, in reading order.
Panels.prototype.focusNext = function (step) {
  var next = this.cycleFrom(step);
  if (next) { this.focus(next); }
};

/** @param {"left"|"right"|"up"|"down"} direction */
Panels.prototype.focusToward = function (direction) {
  var next = this.nearestFrom(direction);
  if (next) { this.focus(next); }
};

// The panels that show now, in reading order.
Panels.prototype.shown = function () {
  var self = this;
  return this.panels().filter(function (panel) {
    var group = self.groupOf(panel.id);
    return (!group || group.active === panel.id) && self.mounted[panel.id];
  });
};

Panels.prototype.cycleFrom = function (step) {
  var shown = this.shown();
  if (!shown.length) { return null; }
  var at = shown.findIndex(function (panel) { return panel.id === this.focusedId; }, this);
  return shown[(at + step + shown.length) % shown.length].id;
};

// The panel whose middle is nearest in that direction from the focused one's middle.
Panels.prototype.nearestFrom = function (direction) {
  var self = this;
  var current = this.focusedId && this.mounted[this.focusedId];
  if (!current) { return this.cycleFrom(1); }
  var from = current.element.getBoundingClientRect();
  var fx = from.left + from.width / 2;
  var fy = from.top + from.height / 2;
  var best = null;
  var bestScore = Infinity;
  this.shown().forEach(function (panel) {
    if (panel.id === self.focusedId) { return; }
    var box = self.mounted[panel.id].element.getBoundingClientRect();
    var dx = box.left + box.width / 2 - fx;
    var dy = box.top + box.height / 2 - fy;
    var along = { left: -dx, right: dx, up: -dy, down: dy }[direction];
    var across = direction === "left" || direction === "right" ? Math.abs(dy) : Math.abs(dx);
    if (along <= 1) { return; }
    var score = along + across * 2;
    if (score < bestScore) { bestScore = score; best = panel.id; }
  });
  return best;
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
