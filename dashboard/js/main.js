// Wires the panels together: the key form, the theme, the chart, and a refresh every 15 s
// (skipped while the tab is hidden).

import { apiKey, graphql, setApiKey } from "./api.js";
import { refreshAlerts } from "./alerts.js";
import { refreshCards, showUpstream } from "./cards.js";
import { Chart } from "./chart.js";
import { SymbolsTable } from "./symbols.js";
import { TrackedSymbols } from "./tracked.js";

const REFRESH_MS = 15000;
const THEME = "marketgraph.theme";
const $ = (selector) => document.querySelector(selector);

function setupTheme(onChange) {
  const button = $("#theme");
  const apply = (dark) => {
    document.documentElement.dataset.theme = dark ? "dark" : "light";
    button.setAttribute("aria-pressed", String(dark));
    onChange();
  };
  const stored = localStorage.getItem(THEME);
  apply(stored ? stored === "dark" : matchMedia("(prefers-color-scheme: dark)").matches);
  button.addEventListener("click", () => {
    const dark = button.getAttribute("aria-pressed") !== "true";
    localStorage.setItem(THEME, dark ? "dark" : "light");
    apply(dark);
  });
}

async function loadSymbols(chart, status) {
  try {
    const answer = await graphql("{ symbols(first: 500) { ticker } }");
    const tickers = answer.data.symbols.map((s) => s.ticker);
    showUpstream(answer.extensions || {});
    if (!tickers.length) {
      status.textContent = "No symbols stored yet: run `marketgraph demo` or a backfill.";
      return;
    }
    chart.setSymbols(tickers, tickers.includes("AAPL") ? "AAPL" : tickers[0]);
    await chart.load(true);
  } catch (error) {
    status.textContent = error.needsKey
      ? "This gateway needs an API key to read: enter one above."
      : `Symbols: ${error.message}`;
    if (error.needsKey) $("#api-key").focus();
  }
}

function main() {
  const chartStatus = $("#chart-status");
  const chart = new Chart($("#chart-controls"), $("#chart"), chartStatus, showUpstream);
  const table = new SymbolsTable($("#symbols-body"), $("#symbol-search"), $("#symbol-status"),
    $("#symbols-count"), (ticker) => {
      chart.show(ticker);
      $("#chart-panel").focus();
    });
  const tracked = new TrackedSymbols($("#track-form"), $("#tracked-body"), $("#tracked-status"));
  setupTheme(() => chart.applyTheme());

  const refresh = async () => {
    const when = await refreshCards();
    $("#cards-updated").textContent = `updated ${when.toLocaleTimeString()}`;
    await Promise.all([table.refresh(), refreshAlerts($("#alerts-body"))]);
  };
  const everything = async () => {
    await Promise.all([refresh(), tracked.refresh(), loadSymbols(chart, chartStatus)]);
    document.body.dataset.ready = "true";
  };

  const keyStatus = $("#key-status");
  const showKey = () => {
    keyStatus.textContent = apiKey() ? "key in use (this tab only)" : "no key";
  };
  $("#key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = $("#api-key");
    setApiKey(input.value.trim());
    input.value = "";
    showKey();
    everything();
  });
  $("#forget-key").addEventListener("click", () => {
    setApiKey("");
    showKey();
    everything();
  });
  showKey();
  everything();
  setInterval(() => {
    if (!document.hidden) refresh();
  }, REFRESH_MS);
}

main();
