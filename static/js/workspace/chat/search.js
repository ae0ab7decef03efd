// @ts-check
// Search within a conversation: a bar above the transcript that highlights every hit (the
// CSS Custom Highlight API: no element is added to the agent's text), says "3 of 12" and
// jumps between hits with Enter / Shift+Enter or its buttons.
//
// The transcript is hostile text: hits are found in its text nodes and marked with Range
// objects, so searching never changes or re-parses what the agent wrote.

import { el } from "../../lib/dom.js";
import { CHROME_CLASS } from "./copy.js";

// A transcript can be long: past this many hits the count says "1000+" and stops looking.
var MAX_HITS = 1000;
var DEBOUNCE_MS = 120;
var ALL = "chat-search";
var ACTIVE = "chat-search-active";

/** @type {Map<any, {ranges: Range[], active: Range | null}>} each open search's hits */
var searches = new Map();

// Highlights are one registry for the page: every chat panel's hits go into the same two.
function paint() {
  var css = /** @type {any} */ (window).CSS;
  var HighlightClass = /** @type {any} */ (window).Highlight;
  if (!css || !css.highlights || !HighlightClass) { return; }
  /** @type {Range[]} */ var all = [];
  /** @type {Range[]} */ var active = [];
  searches.forEach(function (state) {
    all = all.concat(state.ranges);
    if (state.active) { active.push(state.active); }
  });
  if (all.length) { css.highlights.set(ALL, new HighlightClass(...all)); } else { css.highlights.delete(ALL); }
  if (active.length) { css.highlights.set(ACTIVE, new HighlightClass(...active)); } else { css.highlights.delete(ACTIVE); }
}

/** @param {string} text */
function escapeRegExp(text) { return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"); }

/**
 * Every place `query` occurs (case-insensitive) in the text under `root`, skipping our own
 * controls. Text nodes are searched as one string, so a word split by syntax colouring is
 * still found.
 * @param {Element} root
 * @param {string} query
 * @returns {{ranges: Range[], more: boolean}}
 */
export function findRanges(root, query) {
  /** @type {Range[]} */ var ranges = [];
  if (!query) { return { ranges: ranges, more: false }; }
  var walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT, {
    acceptNode: function (node) {
      var parent = node.parentElement;
      return parent && parent.closest("." + CHROME_CLASS) ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT;
    },
  });
  /** @type {Text[]} */ var nodes = [];
  /** @type {number[]} */ var starts = [];
  var text = "";
  for (var node = walker.nextNode(); node; node = walker.nextNode()) {
    nodes.push(/** @type {Text} */ (node));
    starts.push(text.length);
    text += node.nodeValue || "";
  }
  /** @param {number} offset @param {boolean} isEnd */
  function locate(offset, isEnd) {
    // The last node starting before (or, for an end, at or before) the offset.
    var low = 0;
    var high = nodes.length - 1;
    while (low < high) {
      var middle = (low + high + 1) >> 1;
      if (isEnd ? starts[middle] < offset : starts[middle] <= offset) { low = middle; } else { high = middle - 1; }
    }
    return { node: nodes[low], offset: offset - starts[low] };
  }
  var pattern = new RegExp(escapeRegExp(query), "gi");
  var match;
  while ((match = pattern.exec(text)) !== null) {
    if (ranges.length >= MAX_HITS) { return { ranges: ranges, more: true }; }
    var start = locate(match.index, false);
    var end = locate(match.index + match[0].length, true);
    var range = document.createRange();
    range.setStart(start.node, start.offset);
    range.setEnd(end.node, end.offset);
    ranges.push(range);
  }
  return { ranges: ranges, more: false };
}

/**
 * The search bar of one chat panel.
 * @constructor
 * @param {{uid: string, root: HTMLElement, log: HTMLElement, list: HTMLElement}} view the ChatView
 */
export function ChatSearch(view) {
  var self = this;
  this.view = view;
  /** @type {Range[]} */ this.ranges = [];
  this.more = false;
  this.index = -1;
  /** @type {number | null} */ this.timer = null;
  this.bar = el("div", "chat-search");
  this.bar.hidden = true;
  this.bar.setAttribute("role", "search");
  var label = el("label", "sr-only", "Search this conversation");
  this.input = el("input", "chat-search-input");
  this.input.type = "search";
  this.input.id = view.uid + "-search";
  this.input.placeholder = "Search this conversation";
  this.input.autocomplete = "off";
  label.htmlFor = this.input.id;
  this.count = el("span", "chat-search-count muted small");
  this.count.setAttribute("aria-live", "polite");
  this.previous = el("button", "button button-small button-ghost", "↑");
  this.previous.type = "button";
  this.previous.setAttribute("aria-label", "Previous match (Shift+Enter)");
  this.previous.title = "Previous match (Shift+Enter)";
  this.next = el("button", "button button-small button-ghost", "↓");
  this.next.type = "button";
  this.next.setAttribute("aria-label", "Next match (Enter)");
  this.next.title = "Next match (Enter)";
  var close = el("button", "button button-small button-ghost", "✕");
  close.type = "button";
  close.setAttribute("aria-label", "Close search (Escape)");
  close.title = "Close search (Escape)";
  this.bar.append(label, this.input, this.count, this.previous, this.next, close);

  this.input.addEventListener("input", function () { self.schedule(); });
  this.input.addEventListener("keydown", function (event) {
    if (event.key === "Enter") {
      event.preventDefault();
      self.flushPending();
      self.step(event.shiftKey ? -1 : 1);
    } else if (event.key === "Escape") {
      event.preventDefault();
      self.close();
    }
  });
  this.previous.addEventListener("click", function () { self.flushPending(); self.step(-1); });
  this.next.addEventListener("click", function () { self.flushPending(); self.step(1); });
  close.addEventListener("click", function () { self.close(); });
  // Ctrl+F (Cmd+F) inside the chat panel searches the conversation, not the whole page.
  view.root.addEventListener("keydown", function (event) {
    if ((event.ctrlKey || event.metaKey) && !event.altKey && (event.key === "f" || event.key === "F")) {
      event.preventDefault();
      self.open();
    }
  });
}

ChatSearch.prototype.isOpen = function () { return !this.bar.hidden; };

ChatSearch.prototype.open = function () {
  this.bar.hidden = false;
  this.input.focus();
  this.input.select();
  if (this.input.value) { this.run(false); }
};

ChatSearch.prototype.close = function () {
  this.bar.hidden = true;
  this.clearPending();
  this.ranges = [];
  this.index = -1;
  searches.delete(this);
  paint();
  this.view.log.focus();
};

ChatSearch.prototype.clearPending = function () {
  if (this.timer != null) { clearTimeout(this.timer); this.timer = null; }
};

ChatSearch.prototype.schedule = function () {
  var self = this;
  this.clearPending();
  this.timer = window.setTimeout(function () { self.timer = null; self.run(true); }, DEBOUNCE_MS);
};

// Enter right after typing: search for what is typed before stepping.
ChatSearch.prototype.flushPending = function () {
  if (this.timer != null) { this.clearPending(); this.run(false); }
};

/**
 * Find the hits again (typing, or the transcript changed).
 * @param {boolean} jump show the first hit at or after the current one
 */
ChatSearch.prototype.run = function (jump) {
  var previous = this.ranges[this.index] || null;
  var found = findRanges(this.view.list, this.input.value);
  this.ranges = found.ranges;
  this.more = found.more;
  this.index = -1;
  if (this.ranges.length) {
    this.index = 0;
    if (previous && !jump) {
      // The transcript grew: stay on the same hit, or the first one after it.
      for (var i = 0; i < this.ranges.length; i += 1) {
        if (this.ranges[i].compareBoundaryPoints(Range.START_TO_START, previous) >= 0) { this.index = i; break; }
      }
    }
  }
  this.show(jump);
};

/** The transcript changed under an open search. */
ChatSearch.prototype.refresh = function () {
  if (this.isOpen() && this.input.value) { this.run(false); }
};

/** A tool's output is streaming under an open search: find the hits again once it pauses. */
ChatSearch.prototype.refreshLater = function () {
  var self = this;
  if (!this.isOpen() || !this.input.value || this.timer != null) { return; }
  this.timer = window.setTimeout(function () { self.timer = null; self.run(false); }, DEBOUNCE_MS * 4);
};

/** @param {number} direction 1 next, -1 previous (wrapping around) */
ChatSearch.prototype.step = function (direction) {
  if (!this.ranges.length) { this.show(false); return; }
  this.index = (this.index + direction + this.ranges.length) % this.ranges.length;
  this.show(true);
};

/** @param {boolean} reveal scroll the active hit into view */
ChatSearch.prototype.show = function (reveal) {
  var total = this.ranges.length;
  var active = total ? this.ranges[this.index] : null;
  if (!this.input.value) { this.count.textContent = ""; }
  else if (!total) { this.count.textContent = "No matches"; }
  else { this.count.textContent = (this.index + 1) + " of " + total + (this.more ? "+" : ""); }
  this.previous.disabled = total < 2;
  this.next.disabled = total < 2;
  if (total) { searches.set(this, { ranges: this.ranges, active: active }); } else { searches.delete(this); }
  paint();
  if (active && reveal) { revealRange(active, this.view.log); }
};

/**
 * Bring a hit into view: open the collapsed tool cards or details around it, then centre it.
 * @param {Range} range
 * @param {HTMLElement} log
 */
function revealRange(range, log) {
  var element = range.startContainer.parentElement;
  for (var node = element; node && node !== log; node = node.parentElement) {
    if (node instanceof HTMLDetailsElement && !node.open) { node.open = true; }
  }
  if (!element) { return; }
  element.scrollIntoView({ block: "center", inline: "nearest" });
  // The element may be taller than the log (a huge code block): centre the hit itself, and
  // scroll a wide code block sideways to its column.
  var rect = range.getBoundingClientRect();
  var box = log.getBoundingClientRect();
  if (rect.top < box.top || rect.bottom > box.bottom) {
    log.scrollTop += rect.top - box.top - box.height / 2;
  }
  var pre = element.closest("pre");
  if (pre) {
    var frame = pre.getBoundingClientRect();
    rect = range.getBoundingClientRect();
    if (rect.left < frame.left || rect.right > frame.right) {
      pre.scrollLeft += rect.left - frame.left - frame.width / 2;
    }
  }
}
