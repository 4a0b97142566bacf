// Talking to the gateway: the API key (session storage only, sent as a header, never in a URL),
// JSON routes and GraphQL, with errors carrying the API's {detail, code} shape.

const KEY = "marketgraph.apiKey";

export class ApiError extends Error {
  constructor(status, code, detail) {
    super(detail || `HTTP ${status}`);
    this.status = status;
    this.code = code || "";
  }

  /** The route is not served by this gateway (yet): the panel says so instead of breaking. */
  get notAvailable() {
    return this.status === 404;
  }

  get needsKey() {
    return this.status === 401 || this.code === "UNAUTHENTICATED";
  }

  get forbidden() {
    return this.status === 403 || this.code === "FORBIDDEN";
  }
}

export function apiKey() {
  return sessionStorage.getItem(KEY) || "";
}

export function setApiKey(value) {
  if (value) sessionStorage.setItem(KEY, value);
  else sessionStorage.removeItem(KEY);
}

function headers(extra) {
  const result = { Accept: "application/json", ...extra };
  const key = apiKey();
  if (key) result["X-API-Key"] = key;
  return result;
}

async function answer(response) {
  const text = await response.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (!response.ok) {
    throw new ApiError(response.status, body && body.code, body && body.detail);
  }
  return body;
}

export async function getJSON(path) {
  return answer(await fetch(path, { headers: headers(), cache: "no-store" }));
}

export async function sendJSON(method, path, body) {
  const init = { method, headers: headers({ "Content-Type": "application/json" }) };
  if (body !== undefined) init.body = JSON.stringify(body);
  return answer(await fetch(path, init));
}

/** Run a GraphQL operation; resolves to {data, extensions}, throws the first error. */
export async function graphql(query, variables) {
  const body = await sendJSON("POST", "/graphql", { query, variables });
  const error = body.errors && body.errors[0];
  if (error) {
    const code = (error.extensions && error.extensions.code) || "";
    throw new ApiError(code === "UNAUTHENTICATED" ? 401 : 400, code, error.message);
  }
  return body;
}
