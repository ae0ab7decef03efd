// @ts-check
// The project's budget as the control plane counts it: a warning bar at 80 %, and at the
// limit a "budget reached" bar and disabled composers (the server refuses new prompts
// too, with a 402).
//
// The numbers are always read from the control plane (`limits`, projects/dashboard/
// limits.py): a gateway update or a `gateway_refused` event only makes the page read them
// again, so nothing the agent writes can fake or lift this state.

import { el } from "../../lib/dom.js";

/**
 * @typedef {object} Budget
 * @property {"project" | "organisation"} scope
 * @property {string} limit
 * @property {string} spent
 * @property {number} percent
 * @property {boolean} reached
 * @property {boolean} warning
 * @property {number} unpriced
 */

/** @param {unknown} value */
function dollars(value) {
  const number = Number(value);
  if (!Number.isFinite(number)) { return "?"; }
  return "$" + number.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
}

/**
 * @param {object} options
 * @param {(name: string) => Promise<any>} options.read GET one of the workspace's URLs
 * @param {Record<string, string>} options.urls
 * @param {() => any[]} options.views the chat views on the page
 * @param {() => void} options.raiseProjectBudget opens the project's settings
 */
export function createBudgetState({ read, urls, views, raiseProjectBudget }) {
  const bar = el("div", "budget-bar");
  bar.id = "budget-bar";
  bar.hidden = true;
  bar.setAttribute("role", "status");
  const panelsNode = document.getElementById("panels");
  if (panelsNode && panelsNode.parentNode) { panelsNode.parentNode.insertBefore(bar, panelsNode); }

  const state = {
    /** @type {Budget[]} */
    budgets: /** @type {Budget[]} */ ([]),
    reached: false,
    /** @type {Promise<void> | null} */
    reading: /** @type {Promise<void> | null} */ (null),
    again: false,
  };

  /** @param {any} view */
  function applyTo(view) {
    if (!view || !view.input) { return; }
    let reason = view.composer.querySelector(".composer-blocked");
    if (!reason) {
      reason = el("p", "composer-blocked");
      reason.setAttribute("role", "status");
      view.composer.prepend(reason);
    }
    const worst = state.budgets.find((budget) => budget.reached);
    reason.hidden = !state.reached;
    reason.textContent = worst ? blockedText(worst) : "";
    view.input.disabled = state.reached;
    view.sendButton.disabled = state.reached;
    view.followButton.disabled = state.reached;
    view.root.classList.toggle("is-out-of-budget", state.reached);
  }

  /** @param {Budget} budget */
  function blockedText(budget) {
    return (budget.scope === "project" ? "This project's" : "The organisation's") + " monthly budget is reached (" +
      dollars(budget.spent) + " of " + dollars(budget.limit) + "): raise it to send new messages.";
  }

  function render() {
    bar.textContent = "";
    const shown = state.budgets.filter((budget) => budget.warning || budget.reached);
    bar.hidden = shown.length === 0;
    bar.classList.toggle("is-reached", state.reached);
    shown.forEach((budget) => {
      const line = el("p", "budget-bar-line");
      const whose = budget.scope === "project" ? "this project's" : "the organisation's";
      const text = budget.reached
        ? "Budget reached: " + whose + " monthly budget is " + dollars(budget.limit) + ", " + dollars(budget.spent) +
          " spent. The agent's next call would go over it."
        : "You have used " + Math.round(Number(budget.percent) || 0) + " % of " + whose + " monthly budget (" +
          dollars(budget.spent) + " of " + dollars(budget.limit) + ").";
      line.appendChild(document.createTextNode(text + " "));
      const link = el("a", "budget-bar-link", "Raise it");
      if (budget.scope === "project") {
        link.href = urls.manage || "#";
        link.addEventListener("click", (event) => { event.preventDefault(); raiseProjectBudget(); });
      } else {
        link.href = urls.settings_budget || "#";
      }
      line.appendChild(link);
      if (budget.unpriced > 0) {
        line.appendChild(el("span", "muted small", " " + budget.unpriced + " call" + (budget.unpriced === 1 ? "" : "s") +
          " without a price " + (budget.unpriced === 1 ? "is" : "are") + " not counted."));
      }
      bar.appendChild(line);
    });
    views().forEach(applyTo);
  }

  /** Read the control plane's numbers (one read at a time; a call meanwhile reads again). */
  function refresh() {
    if (state.reading) { state.again = true; return state.reading; }
    state.reading = read("limits").then((data) => {
      const budgetState = (data && data.state) || {};
      state.budgets = Array.isArray(budgetState.budgets) ? budgetState.budgets : [];
      state.reached = Boolean(budgetState.reached);
      render();
    }, () => { /* the bar is a convenience: the server refuses on its own */ }).finally(() => {
      state.reading = null;
      if (state.again) { state.again = false; refresh(); }
    });
    return state.reading;
  }

  return {
    refresh,
    applyTo,
    get reached() { return state.reached; },
  };
}
