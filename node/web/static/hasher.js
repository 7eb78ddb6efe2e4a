// The page-side driver of the hashing worker: hashFiles(files, onProgress) -> results.
//
// Files are hashed in this browser, in a worker; only hex hashes, quality, flags and a reason
// code come back (see hash-worker.js for the fields). Nothing is sent anywhere.

let worker = null;
let ready = null;
let nextJob = 1;
const jobs = new Map();

/** Start the worker and compile its WebAssembly; resolves once it can hash. */
export function prepare() {
  if (ready) return ready;
  ready = new Promise((resolve, reject) => {
    worker = new Worker(new URL("./hash-worker.js", import.meta.url), { type: "module" });
    worker.onerror = (event) => {
      event.preventDefault();
      const failure = new Error(`the hashing worker failed: ${event.message || "cannot load"}`);
      reject(failure);
      for (const job of jobs.values()) job.reject(failure);
      jobs.clear();
    };
    worker.onmessage = (event) => dispatch(event.data, resolve, reject);
  });
  return ready;
}

function dispatch(message, resolve, reject) {
  if (message.type === "ready") return resolve();
  if (message.type === "failed" && message.job === undefined) {
    return reject(new Error(message.message)); // the worker could not start
  }
  const job = jobs.get(message.job);
  if (!job) return undefined;
  if (message.type === "failed") {
    jobs.delete(message.job);
    job.reject(new Error(`hashing failed: ${message.message}`));
  } else if (message.type === "progress") {
    job.onProgress?.({
      index: message.index,
      phase: message.phase,
      done: message.done,
      total: message.total,
    });
  } else if (message.type === "result") {
    job.results[message.index] = message.result;
  } else if (message.type === "done") {
    jobs.delete(message.job);
    job.resolve(job.results);
  }
  return undefined;
}

/**
 * Hash `files` (File or Blob objects) one after another. onProgress({index, phase, done,
 * total}) reports phases "digest" (bytes), "decode" and "done" per file. Resolves to one result
 * per file, in order. `options` may set maxBytes, maxImageBytes, maxImagePixels, chunkBytes.
 */
export async function hashFiles(files, onProgress = null, options = {}) {
  await prepare();
  const list = Array.from(files);
  const job = nextJob++;
  return new Promise((resolve, reject) => {
    jobs.set(job, { results: new Array(list.length), onProgress, resolve, reject });
    worker.postMessage({ type: "hash", job, files: list, options });
  });
}

/** The reason codes a result may carry, with what each means (for pages to word). */
export const REASONS = Object.freeze({
  empty: "the file is empty: nothing to hash",
  too_large: "the file is over the size limit: nothing hashed",
  unreadable: "the file could not be read (moved, deleted or changed while hashing)",
  not_image: "not an image: file digests only",
  cannot_decode: "an image this browser cannot decode (or a damaged one): the pages do not send it",
  image_too_large: "an image too large to decode here: file digests only",
  too_small: "an image under 5 pixels on a side: file digests only",
});
