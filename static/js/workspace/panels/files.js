// @ts-check
// The Files panel (issue 17): a lazy tree of the Sprite's home (folders open on demand, a
// hidden-files toggle), links shown as links with their target as text (never followed),
// open a file in a viewer panel, edit a text file (the "editor" panel kind), upload by
// drag-and-drop or a button with progress, download a file or a folder (and the home) as
// a .zip, rename, delete with a confirmation.
// Every name and link target comes from the Sprite: untrusted, set as textContent only.

import { el } from "../../lib/dom.js";
import { HttpError, csrfToken, json, request, withQuery } from "../../lib/http.js";
import { toast } from "../../lib/toast.js";

/**
 * @typedef {{name: string, path: string, is_dir: boolean, size: number,
 *   modified_at: string | null, is_link: boolean, link_target: string}} Entry
 * @typedef {Record<string, string>} Urls
 */

const EDITABLE_BYTES = 2 * 1024 * 1024;

/** @param {number} size */
function humanSize(size) {
  if (size < 1024) { return size + " B"; }
  if (size < 1024 * 1024) { return (size / 1024).toFixed(1) + " KB"; }
  return (size / 1024 / 1024).toFixed(1) + " MB";
}

/** @param {string} path */
function parentOf(path) {
  const cut = path.lastIndexOf("/");
  return cut < 0 ? "." : path.slice(0, cut);
}

/**
 * A small text button.
 * @param {string} label visible text
 * @param {string} accessible its accessible name (with the file's name)
 * @param {() => void} handler
 */
function action(label, accessible, handler) {
  const button = el("button", "files-action", label);
  button.type = "button";
  button.setAttribute("aria-label", accessible);
  button.addEventListener("click", (event) => { event.stopPropagation(); handler(); });
  return button;
}

/**
 * Upload one file with the raw body as it is (the server streams it to the Sprite),
 * reporting progress.
 * @param {string} url
 * @param {File} file
 * @param {(fraction: number) => void} progress
 * @returns {Promise<Entry>}
 */
function uploadFile(url, file, progress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", url);
    xhr.setRequestHeader("X-CSRFToken", csrfToken());
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) { progress(event.loaded / event.total); }
    });
    xhr.addEventListener("load", () => {
      let data = null;
      try { data = JSON.parse(xhr.responseText); } catch (error) { data = null; }
      if (xhr.status >= 200 && xhr.status < 300 && data) { resolve(data); return; }
      reject(new HttpError(data && data.message ? data.message : "The upload failed (" + xhr.status + ").", xhr.status));
    });
    xhr.addEventListener("error", () => { reject(new HttpError("The upload could not reach the dashboard.", 0)); });
    xhr.send(file);
  });
}

/**
 * @param {HTMLElement} body
 * @param {any} props
 * @param {{urls: Urls, openPanel: (kind: string, props: object) => unknown}} workspace
 * @returns {{destroy: () => void}}
 */
export function mountFiles(body, props, workspace) {
  const urls = workspace.urls;
  body.classList.add("panel-scroll", "files-panel");
  const bar = el("div", "panel-toolbar files-toolbar");
  const hiddenLabel = el("label", "files-hidden");
  const hidden = el("input");
  hidden.type = "checkbox";
  hidden.name = "hidden";
  hidden.checked = Boolean(props.hidden);
  hiddenLabel.append(hidden, " Hidden files");
  const uploadInput = el("input");
  uploadInput.type = "file";
  uploadInput.multiple = true;
  uploadInput.className = "sr-only files-upload-input";
  uploadInput.setAttribute("aria-label", "Choose files to upload to the home");
  uploadInput.tabIndex = -1;
  const uploadButton = el("button", "button button-small files-upload", "Upload…");
  uploadButton.type = "button";
  uploadButton.addEventListener("click", () => { uploadInput.click(); });
  const homeZip = el("a", "button button-small", "Download home (.zip)");
  homeZip.href = withQuery(urls.files_archive, { path: "." });
  homeZip.setAttribute("download", "");
  const refresh = el("button", "button button-small", "Refresh");
  refresh.type = "button";
  refresh.addEventListener("click", () => { reload(); });
  bar.append(hiddenLabel, uploadButton, uploadInput, homeZip, refresh);

  const status = el("p", "muted small files-status");
  status.setAttribute("role", "status");
  const progress = el("progress", "files-progress");
  progress.max = 1;
  progress.value = 0;
  progress.hidden = true;
  progress.setAttribute("aria-label", "Upload progress");
  const prompt = el("div", "files-prompt");
  const tree = el("ul", "files-tree");
  tree.setAttribute("role", "tree");
  tree.setAttribute("aria-label", "Files in the project's home");
  body.append(bar, status, progress, prompt, tree);

  /** @type {Set<string>} folders open now (kept across a refresh) */
  const open = new Set(props.open || []);

  /** @param {string} text */
  function say(text) { status.textContent = text; }

  /**
   * Fill `list` with the entries of `path`.
   * @param {HTMLElement} list
   * @param {string} path
   * @param {number} level
   */
  async function fill(list, path, level) {
    let answer;
    try {
      answer = await json(urls.files_tree, { path, hidden: hidden.checked ? "1" : null });
    } catch (error) {
      list.replaceChildren(el("li", "muted small", /** @type {Error} */ (error).message));
      return;
    }
    const entries = /** @type {Entry[]} */ (answer.entries);
    list.replaceChildren();
    if (!entries.length) {
      const empty = el("li", "muted small files-empty", "Empty folder");
      empty.setAttribute("role", "none");
      list.appendChild(empty);
    }
    entries.forEach((entry) => { list.appendChild(row(entry, level)); });
  }

  /**
   * One entry of the tree.
   * @param {Entry} entry
   * @param {number} level
   */
  function row(entry, level) {
    const item = el("li", "files-item");
    item.setAttribute("role", "treeitem");
    item.setAttribute("aria-level", String(level));
    item.dataset.path = entry.path;
    item.dataset.kind = entry.is_link ? "link" : entry.is_dir ? "folder" : "file";
    const line = el("div", "files-row");
    const name = el("button", "files-name");
    name.type = "button";
    const icon = el("span", "files-icon", entry.is_link ? "↪" : entry.is_dir ? "▸" : "·");
    icon.setAttribute("aria-hidden", "true");
    name.append(icon, el("span", "files-label", entry.name));
    line.appendChild(name);
    if (entry.is_link) {
      name.setAttribute("aria-label", entry.name + " (link to " + entry.link_target + ")");
      line.appendChild(el("span", "files-link-target muted small", "→ " + entry.link_target));
      name.addEventListener("click", () => { say(entry.name + " is a link to " + entry.link_target + "; links are shown, never followed."); });
    } else if (entry.is_dir) {
      const children = el("ul", "files-children");
      children.setAttribute("role", "group");
      item.setAttribute("aria-expanded", "false");
      const toggle = () => {
        const expand = item.getAttribute("aria-expanded") !== "true";
        item.setAttribute("aria-expanded", String(expand));
        icon.textContent = expand ? "▾" : "▸";
        if (expand) { open.add(entry.path); fill(children, entry.path, level + 1); } else { open.delete(entry.path); children.replaceChildren(); }
      };
      name.addEventListener("click", toggle);
      item.appendChild(children);
      if (open.has(entry.path)) { setTimeout(toggle, 0); }
      item.addEventListener("dragover", (event) => { event.preventDefault(); event.stopPropagation(); item.classList.add("files-drop"); });
      item.addEventListener("dragleave", () => { item.classList.remove("files-drop"); });
      item.addEventListener("drop", (event) => {
        event.preventDefault();
        event.stopPropagation();
        item.classList.remove("files-drop");
        if (event.dataTransfer) { uploadAll(Array.from(event.dataTransfer.files), entry.path); }
      });
    } else {
      name.addEventListener("click", () => { workspace.openPanel("asset", { path: entry.path, name: entry.name }); });
      name.setAttribute("aria-label", "Open " + entry.name);
    }
    const meta = el("span", "files-meta muted small", entry.is_dir || entry.is_link ? "" : humanSize(entry.size));
    const actions = el("span", "files-actions");
    if (!entry.is_dir && !entry.is_link) {
      // The editor takes text files up to 2 MB (projects/dashboard/files.py MAX_EDIT_BYTES).
      if (entry.size <= EDITABLE_BYTES) {
        actions.append(action("Edit", "Edit " + entry.name, () => { workspace.openPanel("editor", { path: entry.path, name: entry.name }); }));
      }
      actions.append(download("Download", "Download " + entry.name, withQuery(urls.files_download, { path: entry.path })));
    }
    if (entry.is_dir && !entry.is_link) {
      actions.append(download("Zip", "Download " + entry.name + " as a zip", withQuery(urls.files_archive, { path: entry.path })));
    }
    const changes = [
      action("Rename", "Rename " + entry.name, () => { askRename(entry); }),
      action("Delete", "Delete " + entry.name, () => { askDelete(entry); }),
    ];
    // A viewer's page hides these (read-only.js, `.ws-read-only .files-write`).
    for (const change of changes) { change.classList.add("files-write"); }
    actions.append(...changes);
    line.append(meta, actions);
    item.insertBefore(line, item.firstChild);
    return item;
  }

  /**
   * @param {string} label
   * @param {string} accessible
   * @param {string} href
   */
  function download(label, accessible, href) {
    const link = el("a", "files-action", label);
    link.href = href;
    link.setAttribute("download", "");
    link.setAttribute("aria-label", accessible);
    return link;
  }

  /** @param {Entry} entry */
  function askRename(entry) {
    const form = el("form", "files-form");
    const label = el("label", null, "New path for " + entry.name);
    const input = el("input");
    input.name = "destination";
    input.value = entry.path;
    input.required = true;
    label.appendChild(input);
    const submit = el("button", "button button-small button-primary", "Rename");
    submit.type = "submit";
    const cancel = el("button", "button button-small", "Cancel");
    cancel.type = "button";
    cancel.addEventListener("click", () => { prompt.replaceChildren(); });
    form.append(label, submit, cancel);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        await request("POST", urls.files_rename, { source: entry.path, destination: input.value.trim() });
        prompt.replaceChildren();
        say("Renamed " + entry.path + " to " + input.value.trim() + ".");
        reload();
      } catch (error) { say(/** @type {Error} */ (error).message); }
    });
    prompt.replaceChildren(form);
    input.focus();
  }

  /** @param {Entry} entry */
  function askDelete(entry) {
    const box = el("div", "files-form files-confirm");
    box.setAttribute("role", "alertdialog");
    box.setAttribute("aria-label", "Confirm deletion");
    const what = entry.is_link ? "the link " + entry.path + " (not what it points to)"
      : entry.is_dir ? "the folder " + entry.path + " and everything in it" : entry.path;
    box.appendChild(el("p", null, "Delete " + what + "? This cannot be undone."));
    const confirm = el("button", "button button-small button-danger", "Delete");
    confirm.type = "button";
    const cancel = el("button", "button button-small", "Cancel");
    cancel.type = "button";
    cancel.addEventListener("click", () => { prompt.replaceChildren(); });
    confirm.addEventListener("click", async () => {
      try {
        await request("POST", urls.files_delete, { path: entry.path });
        prompt.replaceChildren();
        say("Deleted " + entry.path + ".");
        reload();
      } catch (error) { say(/** @type {Error} */ (error).message); }
    });
    box.append(confirm, cancel);
    prompt.replaceChildren(box);
    confirm.focus();
  }

  /**
   * @param {File[]} files
   * @param {string} folder
   */
  async function uploadAll(files, folder) {
    for (const file of files) {
      const path = folder === "." ? file.name : folder + "/" + file.name;
      progress.hidden = false;
      progress.value = 0;
      say("Uploading " + file.name + "…");
      try {
        await uploadFile(withQuery(urls.files_upload, { path }), file, (fraction) => { progress.value = fraction; });
        say("Uploaded " + path + ".");
        if (folder !== ".") { open.add(folder); }
      } catch (error) {
        say(/** @type {Error} */ (error).message);
        toast(/** @type {Error} */ (error).message, "error");
      }
    }
    progress.hidden = true;
    reload();
  }

  function reload() { fill(tree, ".", 1); }

  uploadInput.addEventListener("change", () => {
    uploadAll(Array.from(uploadInput.files || []), ".");
    uploadInput.value = "";
  });
  hidden.addEventListener("change", reload);
  body.addEventListener("dragover", (event) => { event.preventDefault(); body.classList.add("files-drop"); });
  body.addEventListener("dragleave", () => { body.classList.remove("files-drop"); });
  body.addEventListener("drop", (event) => {
    event.preventDefault();
    body.classList.remove("files-drop");
    if (event.dataTransfer) { uploadAll(Array.from(event.dataTransfer.files), "."); }
  });
  reload();
  return { destroy() {} };
}

/**
 * A plain code editor for one text file, saved with a conflict check against the
 * modification time it was opened with.
 * @param {HTMLElement} body
 * @param {{path: string, name?: string}} props
 * @param {{urls: Urls}} workspace
 * @returns {{destroy: () => void}}
 */
export function mountEditor(body, props, workspace) {
  const urls = workspace.urls;
  body.classList.add("panel-scroll", "editor-panel");
  const bar = el("div", "panel-toolbar editor-toolbar");
  const title = el("span", "editor-path", props.path);
  const save = el("button", "button button-small button-primary editor-save", "Save");
  save.type = "button";
  save.disabled = true;
  const downloadLink = el("a", "button button-small", "Download");
  downloadLink.href = withQuery(urls.files_download, { path: props.path });
  downloadLink.setAttribute("download", "");
  bar.append(title, save, downloadLink);
  const status = el("p", "muted small editor-status");
  status.setAttribute("role", "status");
  const conflict = el("div", "editor-conflict");
  conflict.setAttribute("role", "alert");
  const area = el("textarea", "editor-text");
  area.spellcheck = false;
  area.setAttribute("aria-label", "Contents of " + props.path);
  area.wrap = "off";
  area.disabled = true;
  body.append(bar, status, conflict, area);

  /** @type {string | null} */
  let openedAt = null;
  let dirty = false;

  async function load() {
    conflict.replaceChildren();
    status.textContent = "Loading…";
    try {
      const answer = await json(urls.files_text, { path: props.path });
      area.value = answer.content;
      openedAt = answer.entry.modified_at;
      area.disabled = false;
      save.disabled = false;
      dirty = false;
      status.textContent = "Opened " + props.path + ".";
    } catch (error) {
      status.textContent = /** @type {Error} */ (error).message;
    }
  }

  /** @param {boolean} overwrite */
  async function store(overwrite) {
    save.disabled = true;
    try {
      const entry = await request("POST", urls.files_save, {
        path: props.path, content: area.value, expected_modified_at: openedAt, overwrite,
      });
      openedAt = entry.modified_at;
      dirty = false;
      conflict.replaceChildren();
      status.textContent = "Saved " + props.path + ".";
    } catch (error) {
      const failure = /** @type {HttpError} */ (error);
      if (failure.status === 409) { showConflict(failure.message); } else { status.textContent = failure.message; }
    } finally {
      save.disabled = false;
    }
  }

  /** @param {string} message */
  function showConflict(message) {
    const reloadButton = el("button", "button button-small", "Reload");
    reloadButton.type = "button";
    reloadButton.addEventListener("click", () => { load(); });
    const overwriteButton = el("button", "button button-small button-danger", "Overwrite");
    overwriteButton.type = "button";
    overwriteButton.addEventListener("click", () => { store(true); });
    conflict.replaceChildren(el("p", null, message), reloadButton, overwriteButton);
  }

  save.addEventListener("click", () => { store(false); });
  area.addEventListener("input", () => { dirty = true; status.textContent = "Edited (not saved)."; });
  area.addEventListener("keydown", (event) => {
    if ((event.ctrlKey || event.metaKey) && event.key === "s") { event.preventDefault(); store(false); return; }
    // Tab indents; Escape then Tab leaves the editor (keyboard users are never trapped).
    if (event.key === "Tab" && !event.shiftKey && !area.dataset.escaped) {
      event.preventDefault();
      area.setRangeText("\t", area.selectionStart, area.selectionEnd, "end");
      dirty = true;
    }
    if (event.key === "Escape") { area.dataset.escaped = "1"; } else if (event.key !== "Tab") { delete area.dataset.escaped; }
  });
  load();
  return { destroy() { if (dirty) { toast("Unsaved changes to " + props.path + " were discarded.", "error"); } } };
}
