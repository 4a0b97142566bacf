// Tracked symbols, managed with an admin key: track one, pause or resume it, change the
// timeframes its backfill covers (/api/v1/admin/symbols).

import { apiKey, getJSON, sendJSON } from "./api.js";
import { describe, el, isoDate, showState } from "./dom.js";
import { TIMEFRAMES } from "./chart.js";

const BASE = "/api/v1/admin/symbols";

export class TrackedSymbols {
  constructor(form, body, status) {
    Object.assign(this, { form, body, status });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const symbol = form.querySelector("#track-symbol").value.trim().toUpperCase();
      const assetClass = form.querySelector("#track-class").value;
      this.act(`Tracking ${symbol}`, () => sendJSON("POST", BASE, { symbol, asset_class: assetClass }))
        .then((ok) => { if (ok) form.reset(); });
    });
  }

  async act(what, call) {
    this.status.textContent = `${what}…`;
    try {
      await call();
      this.status.textContent = `${what}: done.`;
      await this.refresh(false);
      return true;
    } catch (error) {
      this.status.textContent = describe(error, what);
      return false;
    }
  }

  async refresh(clearStatus = true) {
    if (!apiKey()) { // an admin route: without a key there is nothing to ask
      showState(this.body, "Tracked symbols: enter an admin key above to manage them.", "na");
      return;
    }
    try {
      const rows = await getJSON(`${BASE}?active_only=false`);
      if (clearStatus) this.status.textContent = "";
      this.form.hidden = false;
      this.render(rows);
    } catch (error) {
      this.form.hidden = error.notAvailable;
      showState(this.body, describe(error, "Tracked symbols"), error.notAvailable ? "na" : "error");
    }
  }

  render(rows) {
    if (!rows.length) {
      showState(this.body, "No tracked symbols yet.");
      return;
    }
    const head = el("tr", {}, ...["Symbol", "Class", "Active", "Timeframes", "Last backfill", "Status"]
      .map((text) => el("th", { scope: "col", text })));
    const body = rows.map((row) => {
      const path = `${BASE}/${encodeURIComponent(row.symbol)}`;
      const active = el("input", {
        type: "checkbox", checked: row.active, "aria-label": `${row.symbol} active`,
        onchange: (event) => this.act(`${event.target.checked ? "Resuming" : "Pausing"} ${row.symbol}`,
          () => sendJSON("PUT", `${path}?active=${event.target.checked}`)),
      });
      const boxes = TIMEFRAMES.map(([, value]) => el("label", { class: "tf" },
        el("input", { type: "checkbox", value, checked: (row.timeframes || []).includes(value) }),
        el("span", { text: value })));
      const timeframes = el("fieldset", { class: "tf-group" },
        el("legend", { class: "visually-hidden", text: `${row.symbol} timeframes` }), ...boxes,
        el("button", {
          type: "button", text: "Save",
          "aria-label": `Save ${row.symbol} timeframes`,
          onclick: () => {
            const chosen = boxes.map((b) => b.querySelector("input")).filter((i) => i.checked)
              .map((i) => i.value);
            this.act(`Saving ${row.symbol} timeframes`,
              () => sendJSON("PUT", `${path}/timeframes`, { timeframes: chosen }));
          },
        }));
      return el("tr", { "data-symbol": row.symbol },
        el("th", { scope: "row", text: row.symbol }),
        el("td", { text: row.asset_class }),
        el("td", {}, active),
        el("td", {}, timeframes),
        el("td", { text: isoDate(row.last_backfill) }),
        el("td", { text: row.backfill_status || "—" }));
    });
    this.body.replaceChildren(el("table", {}, el("thead", {}, head), el("tbody", {}, ...body)));
  }
}
