// What every self-service page shares: its messages (the catalogue the server rendered it
// with, from the page's JSON data block), the quick exit, dates in the page's language, and
// the one way the pages talk to the node (JSON of hashes, same origin, never cached).

const catalogue = JSON.parse(document.getElementById("catalogue").textContent);
export const lang = catalogue["@code"];

/** Message `key` with its {placeholders} filled. A missing key shows the key itself. */
export function t(key, params = {}) {
  const message = catalogue[key] ?? key;
  return message.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
}

/** A date and time in the page's language. */
export function formatDate(ms) {
  return new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeStyle: "short" }).format(new Date(ms));
}

// Quick exit: replace this page in the history (the back button does not return), blank it
// first so nothing stays on screen while the next page loads.
function quickExit(event) {
  event?.preventDefault();
  const target = document.body.dataset.exit;
  document.title = "";
  document.body.replaceChildren();
  window.location.replace(target);
}

export function setUpQuickExit() {
  document.getElementById("quick-exit").addEventListener("click", quickExit);
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !event.defaultPrevented) quickExit(event);
  });
}

/** Show `element` (hidden attribute off) with `text`, or hide it when text is empty. */
export function say(element, text) {
  element.textContent = text || "";
  element.hidden = !text;
}

/** Move focus to a step's heading so keyboard and screen-reader users land on it. */
export function focusHeading(element) {
  element.focus({ preventScroll: false });
}

/**
 * POST `body` as JSON to `path` on this node. Resolves to {ok, status, data, message}:
 * `message` is the catalogue's wording of the error code the node answered.
 */
export async function post(path, body) {
  let response;
  try {
    response = await fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
      credentials: "omit",
      cache: "no-store",
      referrerPolicy: "no-referrer",
    });
  } catch {
    return { ok: false, status: 0, data: null, message: t("error.network") };
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (response.ok) return { ok: true, status: response.status, data, message: "" };
  const code = data?.error?.code;
  const key = `error.${code}`;
  const message = code && key in catalogue ? t(key) : t("error.generic");
  return { ok: false, status: response.status, data, message };
}

/** The most files the node takes in one request (MAX_FILES in node/web/shapes.py). */
export const FILES_PER_REQUEST = 200;

/** `files` cut into batches of at most FILES_PER_REQUEST. */
export function batches(files) {
  const out = [];
  for (let start = 0; start < files.length; start += FILES_PER_REQUEST) {
    out.push(files.slice(start, start + FILES_PER_REQUEST));
  }
  return out;
}
