// @ts-check
// What the workspace says when new secrets or provider keys reach the machine (the bridge's
// `environment_changed` events): when they apply. Names come from the machine: shown as text.

/**
 * @param {{names?: unknown, applied?: unknown, pending_sessions?: unknown}} data
 * @returns {string}
 */
export function environmentMessage(data) {
  const names = Array.isArray(data.names) ? data.names.filter((name) => typeof name === "string") : [];
  const which = names.length ? names.slice(0, 5).join(", ") + (names.length > 5 ? "…" : "") : "secrets";
  if (data.applied === "after_run") {
    return "New values of " + which + ": new commands get them now; the agent picks them up when its current run ends.";
  }
  return "New values of " + which + " are in use by the agent and new commands.";
}
