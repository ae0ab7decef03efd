// @ts-check
// Export a conversation as readable Markdown, built in the browser from the session's
// messages: who said what and when, each tool call with its arguments and its result in
// fenced blocks.
//
// Everything in it came from the Sprite: text is kept as it was written (a Markdown file is
// inert until something renders it), fences are longer than any backtick run inside them so
// no block can close early, and the file's name is reduced to safe characters.

import { shortJson } from "./tool-cards.js";
import { textOf } from "./session.js";

var MAX_NAME_CHARS = 80;

/**
 * A download name from a session's name: no path separators, control or reserved
 * characters, no leading dots, not too long; "conversation" if nothing is left.
 * @param {string} name
 * @returns {string} the name with ".md"
 */
export function exportFileName(name) {
  var safe = String(name || "")
    .replace(/[\u0000-\u001f\u007f/\\:*?"<>|]+/g, "-")
    .replace(/\s+/g, " ")
    .replace(/-{2,}/g, "-")
    .replace(/^[\s.-]+|[\s.-]+$/g, "")
    .slice(0, MAX_NAME_CHARS)
    .replace(/[\s.-]+$/g, "");
  return (safe || "conversation") + ".md";
}

/**
 * `text` in a fenced block that nothing inside can close.
 * @param {string} text
 * @param {string} [language]
 */
export function fenced(text, language) {
  /** @type {string[]} */ var runs = String(text).match(/`{3,}/g) || [];
  var longest = 2;
  runs.forEach(function (run) { longest = Math.max(longest, run.length); });
  var fence = "`".repeat(longest + 1);
  return fence + (language || "") + "\n" + String(text).replace(/\n$/, "") + "\n" + fence;
}

/** @param {unknown} timestamp */
function when(timestamp) {
  if (timestamp == null || timestamp === "") { return ""; }
  var date = new Date(typeof timestamp === "number" ? timestamp : String(timestamp));
  if (isNaN(date.getTime())) { return ""; }
  return date.toLocaleString([], { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

/** @param {string} who @param {unknown} timestamp */
function heading(who, timestamp) {
  var time = when(timestamp);
  return "## " + who + (time ? " · " + time : "");
}

/** @param {any} call @param {any} result */
function toolSection(call, result) {
  var parts = ["**Tool call: " + oneLine(call.name || "tool") + "**", "", fenced(shortJson(call.arguments || {}), "json")];
  if (result) {
    parts.push("", result.isError ? "Result (failed):" : "Result:", "", fenced(textOf(result.content) || "(no output)"));
  } else {
    parts.push("", "_No result recorded._");
  }
  return parts.join("\n");
}

/** A name on one line, its Markdown emphasis characters escaped. @param {unknown} text */
function oneLine(text) {
  return String(text).replace(/\s+/g, " ").replace(/([\\`*_[\]<>#])/g, "\\$1");
}

/**
 * The conversation as Markdown.
 * @param {{name: string, id: string, messages: any[], exportedAt?: Date}} conversation
 * @returns {string}
 */
export function conversationMarkdown(conversation) {
  var messages = conversation.messages || [];
  /** @type {Record<string, any>} */ var results = {};
  messages.forEach(function (message) {
    if (message && message.role === "toolResult" && message.toolCallId) { results[message.toolCallId] = message; }
  });
  var used = new Set();
  var title = conversation.name ? oneLine(conversation.name) : "Conversation";
  var sections = ["# " + title, "",
    "_Session " + oneLine(conversation.id) + ", exported " + when((conversation.exportedAt || new Date()).getTime()) + "._"];
  messages.forEach(function (message) {
    if (!message || message.role === "system") { return; }
    if (message.role === "user") {
      var images = (Array.isArray(message.content) ? message.content : [])
        .filter(function (part) { return part && part.type === "image"; }).length;
      sections.push(heading("You", message.timestamp) + "\n\n" + textOf(message.content) +
        (images ? "\n\n_(" + images + " image" + (images > 1 ? "s" : "") + " attached)_" : ""));
    } else if (message.role === "assistant") {
      var body = [];
      (Array.isArray(message.content) ? message.content : []).forEach(function (part) {
        if (!part) { return; }
        if (part.type === "text" && part.text) { body.push(part.text); }
        if (part.type === "toolCall") {
          used.add(part.id);
          body.push(toolSection(part, results[part.id] || null));
        }
      });
      if (message.stopReason === "aborted") { body.push("_Stopped._"); }
      if (message.stopReason === "error") { body.push("_Error: " + oneLine(message.errorMessage || "the model returned an error") + "_"); }
      sections.push(heading("Agent", message.timestamp) + "\n\n" + body.join("\n\n"));
    } else if (message.role === "toolResult") {
      if (used.has(message.toolCallId)) { return; }
      sections.push(heading("Tool result: " + oneLine(message.toolName || "tool"), message.timestamp) + "\n\n" +
        fenced(textOf(message.content) || "(no output)"));
    } else {
      var summary = message.summary || textOf(message.content) || message.command || "";
      var label = message.role === "compactionSummary" ? "Summary of earlier messages" : oneLine(message.role || "Note");
      sections.push(heading(label, message.timestamp) + "\n\n" + (typeof summary === "string" ? summary : fenced(shortJson(summary), "json")));
    }
  });
  return sections.join("\n\n") + "\n";
}

/**
 * Download `text` as `fileName`: a Blob, never a URL carrying the text.
 * @param {string} fileName
 * @param {string} text
 */
export function download(fileName, text) {
  var url = URL.createObjectURL(new Blob([text], { type: "text/markdown;charset=utf-8" }));
  var link = document.createElement("a");
  link.href = url;
  link.download = fileName;
  link.hidden = true;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(function () { URL.revokeObjectURL(url); }, 10000);
}
