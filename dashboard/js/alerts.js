// Recent alerts from /api/v1/observability/alerts, newest first as the gateway returns them.

import { getJSON } from "./api.js";
import { describe, el, showState } from "./dom.js";

export async function refreshAlerts(body) {
  try {
    const answer = await getJSON("/api/v1/observability/alerts?limit=50");
    const alerts = answer.alerts || [];
    if (!alerts.length) {
      showState(body, "No alerts.");
      return;
    }
    body.replaceChildren(el("ul", { class: "alerts" }, ...alerts.map((alert) => el("li", {
      "data-severity": alert.severity,
    },
    el("span", { class: "badge", text: alert.severity }),
    el("strong", { text: ` ${alert.title}` }),
    el("p", { text: alert.message }),
    el("time", { datetime: alert.timestamp, class: "muted", text: alert.timestamp })))));
  } catch (error) {
    showState(body, describe(error, "Alerts"), error.notAvailable ? "na" : "error");
  }
}
