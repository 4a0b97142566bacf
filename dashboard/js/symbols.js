// The symbols table from /api/v1/symbols/detailed: sortable by any column (buttons in the
// headers, aria-sort says which), searchable by ticker and filterable by status.

import { getJSON } from "./api.js";
import { describe, el, isoDate, number, showState } from "./dom.js";

const COLUMNS = [
  { key: "symbol", label: "Symbol", text: (s) => s.symbol },
  { key: "records", label: "Records", numeric: true, text: (s) => number(s.records) },
  { key: "latest_data", label: "Latest data", text: (s) => isoDate(s.latest_data) },
  { key: "data_age_hours", label: "Age (h)", numeric: true, text: (s) => number(s.data_age_hours, 1) },
  { key: "validation_rate", label: "Validated", numeric: true, text: (s) => `${number(s.validation_rate, 1)} %` },
  { key: "status", label: "Status", text: (s) => s.status },
  { key: "timeframes", label: "Timeframes", text: (s) => (s.timeframes || []).join(" ") },
];

export class SymbolsTable {
  constructor(body, search, status, count, onChoose) {
    Object.assign(this, { body, search, status, count, onChoose });
    this.rows = null;
    this.sort = { key: "symbol", ascending: true };
    search.addEventListener("input", () => this.render());
    status.addEventListener("change", () => this.render());
  }

  async refresh() {
    try {
      const answer = await getJSON("/api/v1/symbols/detailed");
      this.rows = answer.symbols || [];
      this.render();
    } catch (error) {
      this.rows = null;
      this.count.textContent = "";
      showState(this.body, describe(error, "Symbols"), error.notAvailable ? "na" : "error");
    }
  }

  visible() {
    const needle = this.search.value.trim().toUpperCase();
    const wanted = this.status.value;
    const { key, ascending } = this.sort;
    const column = COLUMNS.find((c) => c.key === key);
    const value = (row) => (key === "timeframes" ? (row.timeframes || []).length : row[key]);
    return this.rows
      .filter((r) => r.symbol.toUpperCase().includes(needle) && (!wanted || r.status === wanted))
      .sort((a, b) => {
        const [x, y] = [value(a), value(b)];
        const order = column.numeric || key === "timeframes"
          ? (x ?? -Infinity) - (y ?? -Infinity)
          : String(x ?? "").localeCompare(String(y ?? ""));
        return ascending ? order : -order;
      });
  }

  render() {
    if (this.rows === null) return;
    const rows = this.visible();
    this.count.textContent = `${rows.length} of ${this.rows.length}`;
    const head = el("tr", {}, ...COLUMNS.map((column) => {
      const active = this.sort.key === column.key;
      const sort = active ? (this.sort.ascending ? "ascending" : "descending") : "none";
      return el("th", { scope: "col", "aria-sort": sort, class: column.numeric ? "num" : "" },
        el("button", {
          type: "button",
          "data-sort": column.key,
          text: column.label,
          onclick: () => {
            this.sort = { key: column.key, ascending: active ? !this.sort.ascending : true };
            this.render();
            this.body.querySelector(`[data-sort="${column.key}"]`).focus();
          },
        }));
    }));
    const body = rows.map((row) => el("tr", { "data-symbol": row.symbol },
      ...COLUMNS.map((column) => {
        if (column.key === "symbol") {
          return el("th", { scope: "row" }, el("button", {
            type: "button", class: "link", text: row.symbol,
            title: `Chart ${row.symbol}`, onclick: () => this.onChoose(row.symbol),
          }));
        }
        const cell = el("td", { class: column.numeric ? "num" : "", text: column.text(row) });
        if (column.key === "status") cell.dataset.status = row.status;
        return cell;
      })));
    const table = el("table", {},
      el("caption", { class: "visually-hidden", text: "Symbols in the store; column buttons sort" }),
      el("thead", {}, head), el("tbody", {}, ...body));
    this.body.replaceChildren(rows.length ? table : el("p", { class: "state", text: "No symbol matches." }));
  }
}
