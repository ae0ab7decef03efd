// @ts-check
// The settings page's usage charts (the server's numbers from #usage-chart-data, drawn with
// the vendored uPlot): tokens and cost by day, and cost by project and day, over 30 days.
// The tables under them carry the same numbers for anyone who cannot see a chart.

const COLORS = ["#4f46e5", "#0891b2", "#d97706", "#16a34a", "#db2777", "#7c3aed", "#dc2626", "#475569"];

/** @param {number} value */
function dollars(value) { return value >= 1 ? "$" + value.toFixed(2) : "$" + value.toFixed(4); }

/** Axis and grid colours from the page's theme (--chart-* in app.css). */
function axisStyle() {
  const style = getComputedStyle(document.documentElement);
  const axis = style.getPropertyValue("--chart-axis").trim() || "#5b6275";
  const grid = style.getPropertyValue("--chart-grid").trim() || "rgba(16, 24, 40, .08)";
  return { stroke: axis, grid: { stroke: grid }, ticks: { stroke: grid } };
}

/** @param {HTMLElement} node */
function widthOf(node) { return Math.max(280, Math.floor(node.getBoundingClientRect().width || 600)); }

/**
 * @param {any} uPlot the library (a global from its own script)
 * @param {HTMLElement} node
 * @param {any} data
 */
function byDay(uPlot, node, data) {
  const xs = data.days.map((/** @type {string} */ day) => Date.parse(day + "T00:00:00Z") / 1000);
  const bars = uPlot.paths && uPlot.paths.bars ? uPlot.paths.bars({ size: [0.6, 40] }) : undefined;
  return new uPlot({
    width: widthOf(node),
    height: 220,
    series: [
      {},
      { label: "Tokens", stroke: COLORS[0], fill: "rgba(79, 70, 229, 0.35)", paths: bars, scale: "tokens" },
      { label: "Cost", stroke: COLORS[2], width: 2, scale: "usd", value: (/** @type {any} */ _u, /** @type {number | null} */ v) => v == null ? "–" : dollars(v) },
    ],
    axes: [
      axisStyle(),
      { ...axisStyle(), scale: "tokens" },
      { ...axisStyle(), scale: "usd", side: 1, size: 70, grid: { show: false }, values: (/** @type {any} */ _u, /** @type {number[]} */ ticks) => ticks.map(dollars) },
    ],
  }, [xs, data.tokens, data.cost], node);
}

/**
 * @param {any} uPlot
 * @param {HTMLElement} node
 * @param {any} data
 */
function byProject(uPlot, node, data) {
  const xs = data.days.map((/** @type {string} */ day) => Date.parse(day + "T00:00:00Z") / 1000);
  const series = [{}].concat(data.projects.map((/** @type {any} */ project, /** @type {number} */ index) => ({
    label: project.name,
    stroke: COLORS[index % COLORS.length],
    width: 2,
    value: (/** @type {any} */ _u, /** @type {number | null} */ v) => v == null ? "–" : dollars(v),
  })));
  return new uPlot({
    width: widthOf(node),
    height: 220,
    series,
    axes: [axisStyle(), { ...axisStyle(), size: 70, values: (/** @type {any} */ _u, /** @type {number[]} */ ticks) => ticks.map(dollars) }],
  }, [xs].concat(data.projects.map((/** @type {any} */ project) => project.cost)), node);
}

document.addEventListener("DOMContentLoaded", () => {
  const dataNode = document.getElementById("usage-chart-data");
  const uPlot = /** @type {any} */ (window).uPlot;
  if (!dataNode || !uPlot) { return; }
  const data = JSON.parse(dataNode.textContent || "{}");
  /** @type {[HTMLElement, any][]} */
  let charts = [];
  const dayNode = /** @type {HTMLElement | null} */ (document.querySelector("[data-usage-chart=day]"));
  const projectNode = /** @type {HTMLElement | null} */ (document.querySelector("[data-usage-chart=project]"));
  function draw() {
    charts.forEach(([, chart]) => { chart.destroy(); });
    charts = [];
    if (dayNode) { charts.push([dayNode, byDay(uPlot, dayNode, data)]); }
    if (projectNode) { charts.push([projectNode, byProject(uPlot, projectNode, data)]); }
  }
  draw();
  // uPlot paints its axes on a canvas with the colours it was given: redraw for a new theme.
  document.addEventListener("starter:theme", draw);
  window.addEventListener("resize", () => {
    charts.forEach(([node, chart]) => { chart.setSize({ width: widthOf(node), height: 220 }); });
  });
});
