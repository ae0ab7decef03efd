// @ts-check
// Images in the composer and in the transcript.
//
// Composer: an image pasted into the message box, dropped on the composer or chosen with
// the "Image" button waits as a thumbnail (with a button to remove it) and goes with the
// next message as `{data: base64, mimeType}`, which pi passes to the model as an image part.
// The limits are the server's (`config.images`, from bridge_agent.protocol); the server
// checks again (413 too large, 415 a type that is not allowed).
//
// Transcript: the event log never carries image bytes (the bridge drops them), so a message
// this page sent shows the images it still holds; a message read from the history shows
// the bytes the control plane passed (checked like a prompt's). Only `data:` URLs of
// raster types are made, never SVG; anything else is a placeholder.

import { el } from "../../lib/dom.js";

var DEFAULTS = {
  types: ["image/png", "image/jpeg", "image/gif", "image/webp"],
  maxCount: 4,
  maxBytes: 3 * 1024 * 1024,
  maxTotalBytes: 3.5 * 1024 * 1024,
};
var BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** @param {any} self the ChatView */
function limitsOf(self) {
  var given = self.workspace && self.workspace.config && self.workspace.config.images;
  return Object.assign({}, DEFAULTS, given || {});
}

/** @param {number} bytes */
function mebibytes(bytes) { return (bytes / (1024 * 1024)).toFixed(1).replace(/\.0$/, "") + " MiB"; }

/**
 * Add the attach button, the thumbnails and paste/drop handling to a chat view's composer.
 * @param {any} self the ChatView
 */
export function attachImages(self) {
  var limits = limitsOf(self);
  /** @type {{name: string, mimeType: string, data: string, size: number, url: string}[]} */
  self.attachments = [];
  self.attachmentList = el("ul", "composer-attachments");
  self.attachmentList.setAttribute("aria-label", "Images to send");
  self.attachmentList.hidden = true;
  var picker = el("input");
  picker.type = "file";
  picker.accept = limits.types.join(",");
  picker.multiple = true;
  picker.hidden = true;  // the "Image" button opens it
  var button = el("button", "button button-small button-ghost composer-attach", "Image");
  button.type = "button";
  button.title = "Attach an image (or paste or drop one into the message box)";
  button.setAttribute("aria-label", "Attach an image");
  button.addEventListener("click", function () { picker.click(); });
  picker.addEventListener("change", function () {
    addFiles(self, Array.from(picker.files || []));
    picker.value = "";
  });
  self.input.after(self.attachmentList);
  var actions = self.composer.querySelector(".composer-actions");
  if (actions) { actions.prepend(button); } else { self.composer.appendChild(button); }
  self.composer.appendChild(picker);

  self.input.addEventListener("paste", function (/** @type {ClipboardEvent} */ event) {
    var files = Array.from((event.clipboardData && event.clipboardData.files) || [])
      .filter(function (file) { return file.type.indexOf("image/") === 0; });
    if (!files.length) { return; }
    event.preventDefault();
    addFiles(self, files);
  });
  self.composer.addEventListener("dragover", function (/** @type {DragEvent} */ event) {
    if (event.dataTransfer && Array.from(event.dataTransfer.types).indexOf("Files") >= 0) {
      event.preventDefault();
      self.composer.classList.add("is-dropping");
    }
  });
  self.composer.addEventListener("dragleave", function () { self.composer.classList.remove("is-dropping"); });
  self.composer.addEventListener("drop", function (/** @type {DragEvent} */ event) {
    self.composer.classList.remove("is-dropping");
    var files = Array.from((event.dataTransfer && event.dataTransfer.files) || []);
    if (!files.length) { return; }
    event.preventDefault();
    addFiles(self, files);
  });
}

/**
 * @param {any} self the ChatView
 * @param {File[]} files
 */
export function addFiles(self, files) {
  var limits = limitsOf(self);
  var before = self.attachments.length;
  files.forEach(function (file) {
    var name = file.name || "pasted image";
    if (limits.types.indexOf(file.type) < 0) {
      self.note(name + " cannot be sent: images must be PNG, JPEG, GIF or WebP.", "error");
      return;
    }
    if (self.attachments.length >= limits.maxCount) {
      self.note("A message takes at most " + limits.maxCount + " images.", "error");
      return;
    }
    if (file.size > limits.maxBytes) {
      self.note(name + " is over " + mebibytes(limits.maxBytes) + "; send a smaller image.", "error");
      return;
    }
    var total = self.attachments.reduce(function (sum, /** @type {any} */ image) { return sum + image.size; }, 0);
    if (total + file.size > limits.maxTotalBytes) {
      self.note("The images together would be over " + mebibytes(limits.maxTotalBytes) + ".", "error");
      return;
    }
    var attachment = { name: name, mimeType: file.type, data: "", size: file.size, url: "" };
    self.attachments.push(attachment);
    var reader = new FileReader();
    reader.onload = function () {
      var url = String(reader.result || "");
      attachment.data = url.slice(url.indexOf(",") + 1);
      attachment.url = "data:" + attachment.mimeType + ";base64," + attachment.data;
      renderAttachments(self);
    };
    reader.onerror = function () {
      self.attachments = self.attachments.filter(function (/** @type {any} */ other) { return other !== attachment; });
      self.note(name + " could not be read.", "error");
      renderAttachments(self);
    };
    reader.readAsDataURL(file);
  });
  if (before === 0 && self.attachments.length) { warnIfTextOnly(self); }
}

/**
 * Say so when the session's model takes no images (pi then sends it a placeholder text).
 * @param {any} self the ChatView
 */
function warnIfTextOnly(self) {
  if (!self.session) { return; }
  self.workspace.api.get("agent_state", { session_id: self.session.id }).then(function (/** @type {any} */ state) {
    var model = state && state.model;
    if (model && Array.isArray(model.input) && model.input.indexOf("image") < 0) {
      self.note("The model " + String(model.name || model.id || "") + " does not take images: " +
        "pi sends it a note in their place. Pick a model that does, or describe the image.", "info");
    }
  }, function () { /* only advice */ });
}

/** @param {any} self the ChatView */
function renderAttachments(self) {
  var list = self.attachmentList;
  list.textContent = "";
  self.attachments.forEach(function (/** @type {any} */ image) {
    if (!image.url) { return; }
    var item = el("li", "composer-attachment");
    var thumb = el("img");
    thumb.src = image.url;
    thumb.alt = "Image to send: " + image.name;
    var remove = el("button", "composer-attachment-remove", "×");
    remove.type = "button";
    remove.setAttribute("aria-label", "Remove image " + image.name);
    remove.addEventListener("click", function () {
      self.attachments = self.attachments.filter(function (/** @type {any} */ other) { return other !== image; });
      renderAttachments(self);
      self.input.focus();
    });
    item.append(thumb, remove);
    list.appendChild(item);
  });
  list.hidden = !list.children.length;
}

/**
 * The images waiting in the composer, taken out of it (all read; null when there are none).
 * @param {any} self the ChatView
 * @returns {{data: string, mimeType: string}[] | null}
 */
export function takeImages(self) {
  var ready = (self.attachments || []).filter(function (/** @type {any} */ image) { return image.data; });
  if (!ready.length) { return null; }
  self.attachments = [];
  renderAttachments(self);
  return ready.map(function (/** @type {any} */ image) { return { data: image.data, mimeType: image.mimeType }; });
}

/**
 * Put images back in the composer (the message could not be sent).
 * @param {any} self the ChatView
 * @param {{data: string, mimeType: string}[] | null} images
 */
export function restoreImages(self, images) {
  if (!images || !images.length || (self.attachments && self.attachments.length)) { return; }
  self.attachments = images.map(function (image, index) {
    return {
      name: "image " + (index + 1), mimeType: image.mimeType, data: image.data,
      size: Math.floor(image.data.length * 3 / 4), url: "data:" + image.mimeType + ";base64," + image.data,
    };
  });
  renderAttachments(self);
}

/**
 * The thumbnails of a message's image parts, or null when it has none.
 * @param {any} message
 * @param {{types: string[], maxBytes: number}} [limits]
 * @returns {HTMLElement | null}
 */
export function messageImages(message, limits) {
  var allowed = limits || DEFAULTS;
  var parts = Array.isArray(message.content) ? message.content.filter(function (/** @type {any} */ part) {
    return part && part.type === "image";
  }) : [];
  if (!parts.length) { return null; }
  var box = el("div", "msg-images");
  parts.forEach(function (/** @type {any} */ part, /** @type {number} */ index) {
    var data = typeof part.data === "string" ? part.data : "";
    var type = String(part.mimeType || "");
    var shown = data && allowed.types.indexOf(type) >= 0 && data.length <= Math.ceil(allowed.maxBytes * 4 / 3) + 4 &&
      BASE64.test(data);
    if (!shown) {
      box.appendChild(el("span", "msg-image-missing", "Image " + (index + 1) + " (not shown)"));
      return;
    }
    var image = el("img", "msg-image");
    image.src = "data:" + type + ";base64," + data;
    image.alt = "Image " + (index + 1) + " sent with the message";
    image.loading = "lazy";
    box.appendChild(image);
  });
  return box;
}
