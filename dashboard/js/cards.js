// The service cards: health and scheduler from /health, traffic from the observability
// routes, latency and cache from the performance routes, upstream from GraphQL answers.
// A route this gateway does not serve (404) leaves its card saying "not available".

import { getJSON } from "./api.js";
import { number } from "./dom.js";

const UPSTREAM = {
  disabled: ["off", "no POLYGON_API_KEY: answers come from the store"],
  notPermitted: ["store only", "this key may not fetch (needs the fetch scope)"],
};

function card(name) {
  return document.querySelector(`[data-card="${name}"]`);
}

export function setCard(name, value, detail = "", state = "ok") {
  const node = card(name);
  node.dataset.state = state;
  node.querySelector(".value").textContent = value;
  node.querySelector(".detail").textContent = detail;
}

async function settled(path) {
  try {
    return { body: await getJSON(path) };
  } catch (error) {
    return { error };
  }
}

function unavailable(name, error) {
  if (error.notAvailable) setCard(name, "not available", "this gateway has no such route (404)", "na");
  else if (error.needsKey) setCard(name, "needs a key", "enter an API key above", "na");
  else setCard(name, "error", error.message, "bad");
}

export async function refreshCards() {
  const [health, metrics, queries, cache] = await Promise.all([
    settled("/health"),
    settled("/api/v1/observability/metrics"),
    settled("/api/v1/performance/queries"),
    settled("/api/v1/performance/cache"),
  ]);
  if (health.body) {
    const h = health.body;
    setCard("health", h.status, `database ${h.database || "?"}`, h.status === "healthy" ? "ok" : "bad");
    setCard("scheduler", h.scheduler_running ? "running" : "not running",
      h.scheduler_running ? "scheduled backfill on" : "no scheduled backfill", "ok");
  } else {
    setCard("health", "unreachable", health.error.message, "bad");
    unavailable("scheduler", health.error);
  }
  if (metrics.body) {
    const s = metrics.body.summary || {};
    setCard("requests", `${number(s.requests_last_hour / 60, 1)}/min`,
      `${number(s.requests_last_hour)} in the last hour, ${number(s.total_requests)} in all`);
    const rate = s.error_rate_pct;
    setCard("errors", `${number(rate, 2)} %`,
      `${number(s.errors_last_hour)} errors in the last hour`, rate >= 5 ? "bad" : "ok");
  } else {
    unavailable("requests", metrics.error);
    unavailable("errors", metrics.error);
  }
  if (queries.body) {
    const q = queries.body.stats || {};
    setCard("latency", `${number(q.median_ms, 1)} / ${number(q.p95_ms, 1)} / ${number(q.p99_ms, 1)} ms`,
      `${number(q.total)} queries measured`);
  } else if (metrics.body) {
    const s = metrics.body.summary || {};
    setCard("latency", `avg ${number(s.avg_response_time_ms, 1)} ms`,
      "percentiles not available on this server");
  } else {
    unavailable("latency", queries.error);
  }
  if (cache.body) {
    const c = cache.body.cache || {};
    setCard("cache", `${number(c.hit_rate_pct, 1)} %`,
      `${number(c.hits)} hits, ${number(c.misses)} misses`);
  } else {
    unavailable("cache", cache.error);
  }
  return new Date();
}

/** The upstream card, from the `fetchOnMiss` notice every GraphQL answer carries. */
export function showUpstream(extensions) {
  const [value, detail] = UPSTREAM[extensions.fetchOnMiss] || ["on", "fetch-on-miss from Polygon"];
  setCard("upstream", value, detail, "ok");
}
