// Candlesticks and volume for one symbol and timeframe, fed by GraphQL `barSeries`.
// Ranges are measured back from the symbol's latest bar (demo data ends in 2024), and the
// chart element carries what it drew (data-bar-count, data-first-time, data-last-time, read
// back from the chart itself) so tests and curious users can check it.

import { graphql } from "./api.js";
import { el } from "./dom.js";

export const TIMEFRAMES = [
  ["M1", "1m"], ["M5", "5m"], ["M15", "15m"], ["M30", "30m"], ["H1", "1h"],
  ["H4", "4h"], ["D1", "1d"], ["W1", "1w"], ["MO1", "1mo"],
];
const RANGE_DAYS = { "1D": 1, "1W": 7, "1M": 31, "3M": 92, "1Y": 366, All: null };
const DEFAULT_RANGE = {
  M1: "1D", M5: "1W", M15: "1W", M30: "1M", H1: "1M", H4: "3M", D1: "1Y", W1: "All", MO1: "All",
};
const MAX_BARS = 50000;
const DAY_MS = 86400000;

const LATEST = `query LatestBar($ticker: String!, $timeframe: Timeframe!) {
  barSeries(ticker: $ticker, timeframe: $timeframe, order: DESC, limit: 1) { time }
}`;
const SERIES = `query ChartBars($ticker: String!, $timeframe: Timeframe!, $from: DateTime,
  $to: DateTime, $limit: Int!) {
  barSeries(ticker: $ticker, timeframe: $timeframe, from: $from, to: $to, limit: $limit) {
    time open high low close volume
  }
}`;

function themeColors() {
  const style = getComputedStyle(document.documentElement);
  const get = (name) => style.getPropertyValue(name).trim();
  return {
    background: get("--surface"), text: get("--text"), grid: get("--grid"),
    up: get("--up"), down: get("--down"),
  };
}

export class Chart {
  constructor(controls, container, status, onAnswer) {
    this.controls = controls;
    this.container = container;
    this.status = status;
    this.onAnswer = onAnswer; // told each GraphQL answer's extensions (upstream card)
    this.timeframe = "D1";
    this.range = DEFAULT_RANGE.D1;
    this.latest = null;
    this.request = 0;
    this.buildControls();
    this.library = window.LightweightCharts;
    if (!this.library) {
      container.replaceChildren(el("p", {
        class: "state state-error",
        text: "Chart unavailable: the charting library is not installed (run `npm ci`).",
      }));
      return;
    }
    const colors = themeColors();
    this.chart = this.library.createChart(container, {
      autoSize: true,
      layout: { background: { color: colors.background }, textColor: colors.text },
      timeScale: { timeVisible: true, secondsVisible: false },
    });
    this.candles = this.chart.addSeries(this.library.CandlestickSeries, {});
    this.volume = this.chart.addSeries(this.library.HistogramSeries, {
      priceFormat: { type: "volume" },
      priceScaleId: "",
    });
    this.volume.priceScale().applyOptions({ scaleMargins: { top: 0.8, bottom: 0 } });
    this.applyTheme();
  }

  buildControls() {
    const timeframes = this.controls.querySelector("#timeframes");
    for (const [value, label] of TIMEFRAMES) {
      timeframes.append(el("label", {},
        el("input", { type: "radio", name: "timeframe", value, checked: value === this.timeframe }),
        el("span", { text: label })));
    }
    const ranges = this.controls.querySelector("#ranges");
    for (const name of Object.keys(RANGE_DAYS)) {
      ranges.append(el("label", {},
        el("input", { type: "radio", name: "range", value: name, checked: name === this.range }),
        el("span", { text: name })));
    }
    timeframes.addEventListener("change", (event) => {
      this.timeframe = event.target.value;
      this.setRange(DEFAULT_RANGE[this.timeframe]);
      this.load(true);
    });
    ranges.addEventListener("change", (event) => {
      this.range = event.target.value;
      this.load(false);
    });
    this.controls.querySelector("#symbol").addEventListener("change", () => this.load(true));
    this.controls.addEventListener("submit", (event) => {
      event.preventDefault();
      this.setRange(null);
      this.load(false);
    });
    this.controls.querySelector("#fit").addEventListener("click", () => {
      if (this.chart) this.chart.timeScale().fitContent();
    });
  }

  setRange(name) {
    this.range = name;
    for (const input of this.controls.querySelectorAll("input[name=range]")) {
      input.checked = input.value === name;
    }
  }

  applyTheme() {
    if (!this.chart) return;
    const c = themeColors();
    this.chart.applyOptions({
      layout: { background: { color: c.background }, textColor: c.text },
      grid: { vertLines: { color: c.grid }, horzLines: { color: c.grid } },
    });
    this.candles.applyOptions({
      upColor: c.up, downColor: c.down, wickUpColor: c.up, wickDownColor: c.down,
      borderVisible: false,
    });
  }

  setSymbols(tickers, selected) {
    const select = this.controls.querySelector("#symbol");
    select.replaceChildren(...tickers.map((t) => el("option", { value: t, text: t })));
    if (selected && tickers.includes(selected)) select.value = selected;
  }

  show(ticker) {
    this.controls.querySelector("#symbol").value = ticker;
    this.load(true);
  }

  /** The window to ask for: a preset back from the latest bar, or the date inputs. */
  window() {
    const fromInput = this.controls.querySelector("#from");
    const toInput = this.controls.querySelector("#to");
    if (this.range === null) {
      const from = fromInput.value ? `${fromInput.value}T00:00:00Z` : null;
      const to = toInput.value
        ? new Date(Date.parse(`${toInput.value}T00:00:00Z`) + DAY_MS).toISOString() : null;
      return { from, to };
    }
    const days = RANGE_DAYS[this.range];
    if (days === null || !this.latest) {
      fromInput.value = "";
      toInput.value = this.latest ? this.latest.slice(0, 10) : "";
      return { from: null, to: null };
    }
    const from = new Date(Date.parse(this.latest) - days * DAY_MS).toISOString();
    fromInput.value = from.slice(0, 10);
    toInput.value = this.latest.slice(0, 10);
    return { from, to: null };
  }

  async load(findLatest) {
    const ticker = this.controls.querySelector("#symbol").value;
    if (!ticker || !this.chart) return;
    const request = ++this.request;
    this.status.textContent = `Loading ${ticker}…`;
    try {
      if (findLatest || !this.latest) {
        const latest = await graphql(LATEST, { ticker, timeframe: this.timeframe });
        this.latest = latest.data.barSeries.time[0] || null;
      }
      const { from, to } = this.window();
      const answer = await graphql(SERIES, {
        ticker, timeframe: this.timeframe, from, to, limit: MAX_BARS,
      });
      if (request !== this.request) return; // a newer choice won
      this.onAnswer(answer.extensions || {});
      this.draw(answer.data.barSeries, { ticker, from, to });
    } catch (error) {
      if (request !== this.request) return;
      this.status.textContent = `${ticker}: ${error.message}`;
      this.container.dataset.barCount = "0";
    }
  }

  draw(series, { ticker, from, to }) {
    const candles = series.time.map((time, i) => ({
      time: Date.parse(time) / 1000,
      open: series.open[i], high: series.high[i], low: series.low[i], close: series.close[i],
    }));
    const colors = themeColors();
    const volume = series.time.map((time, i) => ({
      time: Date.parse(time) / 1000,
      value: series.volume[i],
      color: series.close[i] >= series.open[i] ? colors.up : colors.down,
    }));
    this.candles.setData(candles);
    this.volume.setData(volume);
    this.chart.timeScale().fitContent();
    const drawn = this.candles.data();
    const iso = (t) => new Date(t * 1000).toISOString().replace(".000Z", "Z");
    Object.assign(this.container.dataset, {
      ticker,
      timeframe: this.timeframe,
      from: from || "",
      to: to || "",
      barCount: String(drawn.length),
      firstTime: drawn.length ? iso(drawn[0].time) : "",
      lastTime: drawn.length ? iso(drawn[drawn.length - 1].time) : "",
    });
    const label = TIMEFRAMES.find(([v]) => v === this.timeframe)[1];
    const capped = drawn.length === MAX_BARS ? ` (the first ${MAX_BARS}: narrow the range)` : "";
    this.status.textContent = drawn.length
      ? `${ticker} ${label}: ${drawn.length} bars, ${this.container.dataset.firstTime} to `
        + `${this.container.dataset.lastTime}${capped}`
      : `${ticker} ${label}: no bars in this range`;
    this.container.setAttribute("aria-label", `Candlestick and volume chart. ${this.status.textContent}`);
  }
}
