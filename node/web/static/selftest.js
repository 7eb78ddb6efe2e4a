// Drives the hasher for tests and by hand: pick files and see their hashes. The browser tests
// call window.selftest.hash(options) after setting the file input, and pixels(index) to see
// what this browser decodes (a diagnostic for decoder differences, never used by the hasher).

import { decodePixels } from "./decode.js";
import { readOrientation, withoutOrientation } from "./exif.js";
import { hashFiles, prepare } from "./hasher.js";

const input = document.getElementById("files");
const status = document.getElementById("status");
const output = document.getElementById("results");
const events = [];

async function hash(options = {}) {
  events.length = 0;
  status.textContent = "hashing";
  const started = performance.now();
  const results = await hashFiles(input.files, (event) => events.push(event), options);
  window.selftest.lastMs = performance.now() - started; // for bench/browser_hash.py
  output.textContent = JSON.stringify(results, null, 2);
  status.textContent = `done: ${results.length} files`;
  return results;
}

// The RGBA pixels the hasher decodes for file `index`, base64 (a diagnostic for decoder
// differences; results never carry pixels).
async function pixels(index) {
  const file = input.files[index];
  const { patches } = await readOrientation(file);
  const decoded = await decodePixels(withoutOrientation(file, patches), { maxImagePixels: 1e9 });
  const { rgba, width, height, approximate } = decoded;
  let text = "";
  for (let i = 0; i < rgba.length; i += 0x8000) {
    text += String.fromCharCode(...rgba.subarray(i, i + 0x8000));
  }
  return { width, height, approximate, rgba: btoa(text) };
}

window.selftest = { hash, pixels, events, lastMs: null };
// By hand, picking files hashes them; tests load selftest.html?driven and call hash() themselves.
if (!new URLSearchParams(location.search).has("driven")) {
  input.addEventListener("change", () => hash());
}
prepare().then(
  () => {
    status.textContent = "ready";
  },
  (error) => {
    status.textContent = `failed: ${error.message}`;
  },
);
