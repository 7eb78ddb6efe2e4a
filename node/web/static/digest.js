// Streaming MD5 and SHA-256 of a Blob (a File is one): read in chunks with Blob.slice, so a
// multi-gigabyte video never sits in memory. The next chunk is being read while this one is
// hashed. Uses the vendored hash-wasm (WebAssembly) build.

import { createMD5, createSHA256 } from "./vendor/hash-wasm/hash-wasm.esm.min.js";

export const DEFAULT_CHUNK_BYTES = 8 * 1024 * 1024;

let hashers = null;

/** Compile the WebAssembly once; later calls reuse it. */
export async function prepareDigests() {
  if (!hashers) hashers = Promise.all([createMD5(), createSHA256()]);
  return hashers;
}

/**
 * {md5, sha256} of `blob` as lowercase hex. onChunk(bytesDone, bytesTotal) is called after each
 * chunk. Calls must not overlap: the two hash states are shared.
 */
export async function digestBlob(blob, { chunkBytes = DEFAULT_CHUNK_BYTES, onChunk } = {}) {
  const [md5, sha256] = await prepareDigests();
  md5.init();
  sha256.init();
  const read = (start) => blob.slice(start, start + chunkBytes).arrayBuffer();
  let pending = blob.size > 0 ? read(0) : null;
  for (let start = 0; start < blob.size; start += chunkBytes) {
    const chunk = new Uint8Array(await pending);
    const next = start + chunkBytes;
    pending = next < blob.size ? read(next) : null;
    md5.update(chunk);
    sha256.update(chunk);
    if (onChunk) onChunk(Math.min(next, blob.size), blob.size);
  }
  return { md5: md5.digest("hex"), sha256: sha256.digest("hex") };
}
