// Small DOM helpers: build elements without innerHTML (no markup from data, ever).

export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

/** Replace a panel body with a one-line state: loading, not available, needs a key, error. */
export function showState(container, text, kind = "info") {
  container.replaceChildren(el("p", { class: `state state-${kind}`, text }));
}

/** The message a panel shows for a failed request. */
export function describe(error, what) {
  if (error.notAvailable) return `${what}: not available on this server (HTTP 404).`;
  if (error.needsKey) return `${what}: needs an API key — enter one above.`;
  if (error.forbidden) return `${what}: this key lacks the scope for it.`;
  return `${what}: ${error.message}`;
}

export function number(value, digits = 0) {
  if (value === null || value === undefined || Number.isNaN(value)) return "—";
  return Number(value).toLocaleString("en-US", {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

export function isoDate(value) {
  return value ? String(value).slice(0, 10) : "—";
}
