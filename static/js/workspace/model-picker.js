// @ts-check
// The model picker in the top bar: provider, model and thinking level of the focused
// chat's session. Choices apply as they change; the form itself never submits.

import { el } from "../lib/dom.js";
import { toast } from "../lib/toast.js";

/**
 * A provider as the config lists it (accounts/model_catalog.py `as_json`).
 * @typedef {{name: string, label: string, has_key: boolean, models: Array<{id: string, name?: string}>}} Provider
 */

/**
 * @param {object} options
 * @param {Provider[]} options.providers
 * @param {{get: (name: string, params?: object) => Promise<any>, post: (name: string, body?: object) => Promise<any>}} options.api
 * @returns {{show: (view: any) => void, thinkingChanged: (event: any) => void}}
 */
export function createModelPicker({ providers, api }) {
  const picker = document.getElementById("model-picker");
  const providerSelect = /** @type {HTMLSelectElement} */ (document.getElementById("picker-provider"));
  const modelSelect = /** @type {HTMLSelectElement} */ (document.getElementById("picker-model"));
  const thinkingSelect = /** @type {HTMLSelectElement} */ (document.getElementById("picker-thinking"));
  /** @type {any} the chat view whose session the picker shows */
  let shown = null;
  // Every level the project knows (the template lists bridge_agent/protocol.THINKING_LEVELS);
  // the picker offers those the session's model takes (pi's get_available_thinking_levels).
  const allLevels = thinkingSelect ? Array.from(thinkingSelect.options).map((option) => option.value) : [];

  /**
   * @param {unknown} levels the state's `thinking_levels` (missing: the session is not running)
   * @param {string} selected
   */
  function fillThinking(levels, selected) {
    const offered = Array.isArray(levels) && levels.length
      ? allLevels.filter((level) => levels.indexOf(level) >= 0)
      : allLevels;
    if (selected && offered.indexOf(selected) < 0) { offered.push(selected); }
    thinkingSelect.textContent = "";
    offered.forEach((level) => {
      const option = el("option", null, "thinking: " + level);
      option.value = level;
      option.selected = level === selected;
      thinkingSelect.appendChild(option);
    });
    // A model that cannot reason offers only "off": nothing to choose.
    thinkingSelect.disabled = offered.length < 2;
    thinkingSelect.title = offered.length < 2 ? "This model does not think before answering" : "Thinking level";
  }

  /** @param {string} providerName @param {string} selected */
  function fillModels(providerName, selected) {
    modelSelect.textContent = "";
    const provider = providers.find((candidate) => candidate.name === providerName);
    const models = provider ? provider.models.slice() : [];
    if (selected && !models.some((m) => m.id === selected)) { models.unshift({ id: selected, name: selected }); }
    models.forEach((model) => {
      const option = el("option", null, model.name && model.name !== model.id ? model.name + " — " + model.id : model.id);
      option.value = model.id;
      option.selected = model.id === selected;
      modelSelect.appendChild(option);
    });
    modelSelect.disabled = !models.length;
  }

  /** @param {string} selected */
  function fillProviders(selected) {
    providerSelect.textContent = "";
    const usable = el("optgroup");
    usable.label = "Ready to use";
    const others = el("optgroup");
    others.label = "Needs an API key (Settings)";
    let seen = false;
    providers.forEach((provider) => {
      const option = el("option", null, provider.label);
      option.value = provider.name;
      option.selected = provider.name === selected;
      seen = seen || option.selected;
      (provider.has_key ? usable : others).appendChild(option);
    });
    if (selected && !seen) {
      const current = el("option", null, selected);
      current.value = selected;
      current.selected = true;
      usable.insertBefore(current, usable.firstChild);
    }
    providerSelect.append(usable, others);
  }

  /** @param {any} view a chat view: the picker shows its session's model */
  function show(view) {
    shown = view;
    if (!picker || !view.session) { return; }
    const shownPicker = picker;
    api.get("agent_state", { session_id: view.session.id }).then((state) => {
      const model = state.model || {};
      // pi reports provider "unknown" when no provider has a key yet: offer a choice instead.
      const known = Boolean(model.provider && model.id && model.provider !== "unknown" && model.id !== "unknown");
      fillProviders(known ? model.provider : "");
      fillModels(known ? model.provider : "", known ? model.id : "");
      if (!known) {
        const placeholder = el("option", null, "Choose a model…");
        placeholder.value = "";
        placeholder.disabled = true;
        placeholder.selected = true;
        providerSelect.insertBefore(placeholder, providerSelect.firstChild);
        if (!modelSelect.options.length) { modelSelect.appendChild(el("option", null, "—")); }
      }
      fillThinking(state.thinking_levels, state.thinking_level || "off");
      shownPicker.hidden = false;
    }, () => { /* the picker stays as it was */ });
  }

  /** @param {{model?: string, thinking_level?: string, session_id?: string}} body */
  function applyConfig(body) {
    const view = shown;
    if (!picker || !view || !view.session) { return; }
    const busyPicker = picker;
    body.session_id = view.session.id;
    busyPicker.setAttribute("aria-busy", "true");
    api.post("agent_config", body).then((state) => {
      const model = state.model || {};
      toast("Now using " + (model.provider ? model.provider + "/" + model.id : "the new setting") +
        (state.thinking_level ? " · thinking " + state.thinking_level : "") + ".", "success");
      // A new model may take other levels; pi clamps the level to one it takes.
      if (state.thinking_level) { fillThinking(state.thinking_levels, state.thinking_level); }
    }, (error) => {
      toast(error.message, "error");
      show(view);
    }).finally(() => { busyPicker.removeAttribute("aria-busy"); });
  }

  if (picker) {
    picker.addEventListener("submit", (event) => { event.preventDefault(); });
    providerSelect.addEventListener("change", () => {
      fillModels(providerSelect.value, "");
      if (modelSelect.value) { applyConfig({ model: providerSelect.value + "/" + modelSelect.value }); }
    });
    modelSelect.addEventListener("change", () => {
      applyConfig({ model: providerSelect.value + "/" + modelSelect.value });
    });
    thinkingSelect.addEventListener("change", () => {
      applyConfig({ thinking_level: thinkingSelect.value });
    });
  }
  /** @param {any} event a `thinking_level_changed` event (from any tab, or pi's clamping) */
  function thinkingChanged(event) {
    const level = event.data && event.data.level;
    if (!shown || !shown.session || event.session_id !== shown.session.id || typeof level !== "string") { return; }
    if (allLevels.indexOf(level) < 0) { return; }
    const offered = Array.from(thinkingSelect.options).map((option) => option.value);
    if (offered.indexOf(level) < 0) { show(shown); return; }
    thinkingSelect.value = level;
  }

  return { show, thinkingChanged };
}
