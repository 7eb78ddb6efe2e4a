// EXIF orientation of JPEG, PNG and WebP files, and the pixel transform it asks for.
//
// Same rule as node/hashing: the tag in the file's EXIF block (TIFF IFD0, tag 0x0112), and only
// there. XMP orientation is not read: browsers do not honour it either. The file is walked a
// segment or chunk header at a time with Blob.slice, so a large file is never read whole.

const ORIENTATION_TAG = 0x0112;
const MAX_STEPS = 4096; // segments or chunks walked before giving up on a malformed file

async function bytesAt(blob, start, length) {
  if (start >= blob.size) return new Uint8Array(0);
  return new Uint8Array(await blob.slice(start, start + length).arrayBuffer());
}

function ascii(bytes, start, length) {
  return String.fromCharCode(...bytes.subarray(start, start + length));
}

/**
 * The EXIF orientation of an image file: {orientation: 1-8, patches}. orientation is 1 when
 * the file has none or it cannot be read. patches ([{at, bytes}]) rewrite the tag to 1 (and a
 * PNG chunk's CRC to match); see withoutOrientation.
 */
export async function readOrientation(blob) {
  const head = await bytesAt(blob, 0, 16);
  let found = null;
  if (head[0] === 0xff && head[1] === 0xd8) found = await jpegExif(blob);
  else if (ascii(head, 1, 3) === "PNG") found = await pngExif(blob);
  else if (ascii(head, 0, 4) === "RIFF" && ascii(head, 8, 4) === "WEBP") {
    found = await webpExif(blob);
  }
  const tag = found ? orientationInTiff(found.tiff) : null;
  if (!tag || tag.value < 2 || tag.value > 8) return { orientation: 1, patches: [] };
  const value = new Uint8Array(tag.size);
  if (tag.size === 2) new DataView(value.buffer).setUint16(0, 1, tag.little);
  else new DataView(value.buffer).setUint32(0, 1, tag.little);
  const patches = [{ at: found.start + tag.offset, bytes: value }];
  if (found.pngChunk !== undefined) patches.push(pngCrcPatch(found, tag.offset, value));
  return { orientation: tag.value, patches };
}

/** The EXIF orientation (1-8) of an image file, 1 when it has none or it cannot be read. */
export async function exifOrientation(blob) {
  return (await readOrientation(blob)).orientation;
}

/**
 * The file with its EXIF orientation rewritten to 1, as a Blob made of slices of the original
 * (nothing is copied). Browsers apply the tag when decoding, whatever createImageBitmap is
 * told, and the hasher needs the stored pixels; it applies the orientation itself, exactly as
 * Pillow does, for the upright hash.
 */
export function withoutOrientation(blob, patches) {
  if (patches.length === 0) return blob;
  const parts = [];
  let from = 0;
  for (const { at, bytes } of [...patches].sort((a, b) => a.at - b.at)) {
    parts.push(blob.slice(from, at), bytes);
    from = at + bytes.length;
  }
  parts.push(blob.slice(from));
  return new Blob(parts, { type: blob.type });
}

// JPEG: the first APP1 segment that starts "Exif\0\0", before the scan data.
async function jpegExif(blob) {
  let at = 2;
  for (let step = 0; step < MAX_STEPS; step++) {
    const header = await bytesAt(blob, at, 4);
    if (header.length < 4 || header[0] !== 0xff) return null;
    const marker = header[1];
    if (marker === 0xff) {
      at += 1; // fill byte
      continue;
    }
    if (marker === 0xd9 || marker === 0xda) return null; // end of image, start of scan
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      at += 2; // markers without a length
      continue;
    }
    const length = (header[2] << 8) | header[3];
    if (length < 2) return null;
    if (marker === 0xe1) {
      const body = await bytesAt(blob, at + 4, length - 2);
      if (ascii(body, 0, 6) === "Exif\0\0") return { tiff: body.subarray(6), start: at + 10 };
    }
    at += 2 + length;
  }
  return null;
}

// PNG: the eXIf chunk, before or after the image data.
async function pngExif(blob) {
  let at = 8;
  for (let step = 0; step < MAX_STEPS; step++) {
    const header = await bytesAt(blob, at, 8);
    if (header.length < 8) return null;
    const length = new DataView(header.buffer).getUint32(0);
    const kind = ascii(header, 4, 4);
    if (kind === "eXIf") {
      return { tiff: await bytesAt(blob, at + 8, length), start: at + 8, pngChunk: at };
    }
    if (kind === "IEND") return null;
    at += 12 + length;
  }
  return null;
}

// WebP: the RIFF "EXIF" chunk (its payload may or may not repeat JPEG's "Exif\0\0").
async function webpExif(blob) {
  let at = 12;
  for (let step = 0; step < MAX_STEPS; step++) {
    const header = await bytesAt(blob, at, 8);
    if (header.length < 8) return null;
    const length = new DataView(header.buffer).getUint32(4, true);
    if (ascii(header, 0, 4) === "EXIF") {
      const body = await bytesAt(blob, at + 8, length);
      const skip = ascii(body, 0, 6) === "Exif\0\0" ? 6 : 0;
      return { tiff: body.subarray(skip), start: at + 8 + skip };
    }
    at += 8 + length + (length & 1);
  }
  return null;
}

// The orientation entry of IFD0 in a TIFF block: {value, offset, size, little}, or null.
function orientationInTiff(tiff) {
  if (tiff.length < 8) return null;
  const view = new DataView(tiff.buffer, tiff.byteOffset, tiff.byteLength);
  const order = ascii(tiff, 0, 2);
  if (order !== "II" && order !== "MM") return null;
  const little = order === "II";
  if (view.getUint16(2, little) !== 42) return null;
  const ifd = view.getUint32(4, little);
  if (ifd + 2 > tiff.length) return null;
  const entries = view.getUint16(ifd, little);
  for (let n = 0; n < entries; n++) {
    const entry = ifd + 2 + 12 * n;
    if (entry + 12 > tiff.length) return null;
    if (view.getUint16(entry, little) !== ORIENTATION_TAG) continue;
    const type = view.getUint16(entry + 2, little);
    if (view.getUint32(entry + 4, little) !== 1) return null; // one value, or none at all
    const offset = entry + 8;
    if (type === 3) return { value: view.getUint16(offset, little), offset, size: 2, little };
    if (type === 4) return { value: view.getUint32(offset, little), offset, size: 4, little };
    return null; // the standard says SHORT; LONG is seen in the wild
  }
  return null;
}

// A PNG chunk carries a CRC of its type and data: the rewritten eXIf chunk gets a new one.
function pngCrcPatch(found, offset, value) {
  const data = Uint8Array.from(found.tiff);
  data.set(value, offset);
  const typed = new Uint8Array(4 + data.length);
  typed.set([0x65, 0x58, 0x49, 0x66]); // "eXIf"
  typed.set(data, 4);
  const crc = new Uint8Array(4);
  new DataView(crc.buffer).setUint32(0, crc32(typed));
  return { at: found.start + found.tiff.length, bytes: crc };
}

let crcTable = null;

function crc32(bytes) {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c;
    }
  }
  let crc = 0xffffffff;
  for (const byte of bytes) crc = crcTable[(crc ^ byte) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/**
 * RGBA pixels with an EXIF orientation applied, as PIL's exif_transpose does: a pure
 * permutation of pixels. Returns {rgba, width, height}.
 */
export function applyOrientation(rgba, width, height, orientation) {
  if (orientation === 1) return { rgba, width, height };
  const swap = orientation >= 5;
  const outWidth = swap ? height : width;
  const outHeight = swap ? width : height;
  const source = new Uint32Array(rgba.buffer, rgba.byteOffset, width * height);
  const target = new Uint32Array(outWidth * outHeight);
  // Source index of output (x, y) is origin + x * stepX + y * stepY for every orientation.
  const [origin, stepX, stepY] = SOURCE_STEPS[orientation](width, height);
  for (let y = 0; y < outHeight; y++) {
    let from = origin + y * stepY;
    for (let x = 0; x < outWidth; x++, from += stepX) target[y * outWidth + x] = source[from];
  }
  return { rgba: new Uint8ClampedArray(target.buffer), width: outWidth, height: outHeight };
}

// For each orientation and source size w x h: [origin, stepX, stepY] of the source index.
const SOURCE_STEPS = {
  2: (w) => [w - 1, -1, w], // mirror left-right
  3: (w, h) => [(h - 1) * w + w - 1, -1, -w], // rotate 180°
  4: (w, h) => [(h - 1) * w, 1, -w], // mirror top-bottom
  5: (w) => [0, w, 1], // transpose
  6: (w, h) => [(h - 1) * w, -w, 1], // rotate 90° clockwise
  7: (w, h) => [(h - 1) * w + w - 1, -w, -1], // transverse
  8: (w) => [w - 1, w, -1], // rotate 90° counter-clockwise
};
