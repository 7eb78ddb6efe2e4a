// The hashing worker: takes File objects, posts per-file progress and results. Results hold hex
// hashes, quality, flags and a reason code, never pixels. Nothing here touches the network.
//
// Messages in:  {type: "hash", job, files: [File], options}
// Messages out: {type: "ready"} once, then per job
//               {type: "progress", job, index, phase, done, total}
//               {type: "result", job, index, result}
//               {type: "done", job}, or {type: "failed", job, message}

import { decodePixels, Refusal } from "./decode.js";
import { digestBlob, prepareDigests } from "./digest.js";
import { applyOrientation, readOrientation, withoutOrientation } from "./exif.js";
import { pdqOfRGBA, UNRELIABLE_BELOW } from "./pdq.js";

export const DEFAULTS = Object.freeze({
  maxBytes: 16 * 1024 ** 3, // larger files are refused outright
  maxImageBytes: 256 * 1024 ** 2, // larger files get digests but are not decoded as images
  maxImagePixels: 89_478_485, // Pillow's decompression-bomb limit, as the Python hasher
  chunkBytes: 8 * 1024 * 1024,
});

/** The image format a file's first bytes announce, or null. */
export function sniffFormat(head) {
  const text = String.fromCharCode(...head.subarray(0, 12));
  if (head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return "jpeg";
  if (text.startsWith("\x89PNG")) return "png";
  if (text.startsWith("GIF8")) return "gif";
  if (text.startsWith("RIFF") && text.slice(8, 12) === "WEBP") return "webp";
  if (text.startsWith("BM")) return "bmp";
  if (text.startsWith("\0\0\x01\0")) return "ico";
  if (text.startsWith("II*\0") || text.startsWith("MM\0*")) return "tiff";
  if (text.slice(4, 8) === "ftyp") {
    const brand = text.slice(8, 12);
    if (brand === "avif" || brand === "avis") return "avif";
    if (["heic", "heix", "hevc", "hevx", "heim", "heis", "mif1", "msf1"].includes(brand)) {
      return "heic";
    }
  }
  return null;
}

async function hashOne(file, options, progress) {
  if (file.size === 0) return { reason: "empty" };
  if (file.size > options.maxBytes) return { reason: "too_large" };
  const format = sniffFormat(new Uint8Array(await file.slice(0, 16).arrayBuffer()));
  const digests = await digestBlob(file, {
    chunkBytes: options.chunkBytes,
    onChunk: (done, total) => progress("digest", done, total),
  });
  const result = { ...digests, format, pdq: null, quality: null, unreliable: false, reason: null };
  if (!format) return { ...result, reason: "not_image" };
  if (file.size > options.maxImageBytes) return { ...result, reason: "image_too_large" };
  progress("decode", 0, 1);
  try {
    return { ...result, ...(await imageHashes(file, options)) };
  } catch (error) {
    // Anything else a decoder or canvas throws (out of memory, say) is a decoding failure too.
    return { ...result, reason: error instanceof Refusal ? error.reason : "cannot_decode" };
  }
}

// PDQ of the stored pixels and, when EXIF asks for a rotation or mirror, of the upright image:
// a phone photo and the upright copy a platform serves are far apart, and both must match.
async function imageHashes(file, options) {
  const { orientation, patches } = await readOrientation(file);
  const stored = withoutOrientation(file, patches);
  const { rgba, width, height, approximate } = await decodePixels(stored, options);
  const hashes = { orientation, approximate, ...named("", pdqOfRGBA(rgba, width, height)) };
  if (orientation !== 1) {
    const upright = applyOrientation(rgba, width, height, orientation);
    Object.assign(hashes, named("upright_", pdqOfRGBA(upright.rgba, upright.width, upright.height)));
  }
  return hashes;
}

function named(prefix, pdq) {
  return {
    [`${prefix}pdq`]: pdq.hash,
    [`${prefix}quality`]: pdq.quality,
    [`${prefix}unreliable`]: pdq.quality < UNRELIABLE_BELOW,
  };
}

// One job at a time, in order: the digest state is shared, and one big decode is memory enough.
let queue = Promise.resolve();

async function runJob({ job, files, options }) {
  const settings = { ...DEFAULTS, ...options };
  for (let index = 0; index < files.length; index++) {
    const progress = (phase, done, total) =>
      self.postMessage({ type: "progress", job, index, phase, done, total });
    let result;
    try {
      result = await hashOne(files[index], settings, progress);
    } catch {
      result = { reason: "unreadable" }; // the file vanished or changed while being read
    }
    progress("done", 1, 1);
    self.postMessage({ type: "result", job, index, result: complete(result) });
  }
  self.postMessage({ type: "done", job });
}

// Every result has every field, so pages need no existence checks.
function complete(partial) {
  return {
    md5: null,
    sha256: null,
    format: null,
    orientation: 1,
    approximate: false, // true: partly transparent, read without WebGL: colours may be off
    pdq: null,
    quality: null,
    unreliable: false,
    upright_pdq: null,
    upright_quality: null,
    upright_unreliable: false,
    reason: null,
    ...partial,
  };
}

self.onmessage = (event) => {
  if (event.data?.type !== "hash") return;
  const { job } = event.data;
  // A job that fails as a whole (a bug, not a bad file) fails alone: the queue goes on.
  queue = queue
    .then(() => runJob(event.data))
    .catch((error) => self.postMessage({ type: "failed", job, message: String(error) }));
};

prepareDigests().then(
  () => self.postMessage({ type: "ready" }),
  (error) => self.postMessage({ type: "failed", message: String(error) }),
);
