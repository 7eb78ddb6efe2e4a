// PDQ hash and quality of decoded pixels, bit for bit what node/hashing/pdq.py computes (and so
// what Meta's reference pdq-photo-hasher prints). Every float step is rounded to float32 with
// Math.fround or by storing into a Float32Array, in the reference's order of operations: a
// double computed and rounded once at the end would differ in the last bit now and then, and
// one such bit can flip a hash bit.
//
// Doing each step in double and rounding to float32 gives exactly the float32 result for +, -,
// * and /, because a double holds more than twice a float's precision.

import { DCT_BASE64 } from "./pdq-dct.js";

export const MIN_DIMENSION = 5;
export const UNRELIABLE_BELOW = 50;
const DOWNSAMPLE_SIZE = 512;
const BLOCK = 64;

const f32 = Math.fround;
const LUMA_RED = f32(0.299);
const LUMA_GREEN = f32(0.587);
const LUMA_BLUE = f32(0.114);
const HUNDRED = f32(100);
const SCALE = f32(255);

const DCT = decodeMatrix(DCT_BASE64);

function decodeMatrix(base64) {
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  const view = new DataView(bytes.buffer);
  const matrix = new Float32Array(16 * BLOCK);
  for (let i = 0; i < matrix.length; i++) matrix[i] = view.getFloat32(4 * i, true);
  return matrix;
}

/**
 * PDQ of RGBA pixels (as getImageData returns them; alpha is ignored, as the reference does).
 * Returns {hash: 64 hex digits, quality: 0-100}, or null for an image under 5 px on a side
 * (the reference's all-zero placeholder there is no hash worth sharing).
 */
export function pdqOfRGBA(rgba, width, height) {
  if (width < MIN_DIMENSION || height < MIN_DIMENSION) return null;
  const grey = isAllGrey(rgba);
  const luma = lumaPlane(rgba, width, height, grey);
  const block = downsampleTo64(luma.values, luma.rows, luma.cols);
  const quality = qualityOf(block);
  return { hash: hashHex(dct16(block)), quality };
}

// ImageMagick hands the reference an all-grey image as one grey channel, and the float luma of a
// grey RGB pixel is not always exactly its grey value: so grey images are hashed from the grey.
function isAllGrey(rgba) {
  for (let p = 0; p < rgba.length; p += 4) {
    if (rgba[p] !== rgba[p + 1] || rgba[p + 1] !== rgba[p + 2]) return false;
  }
  return true;
}

// Luma of each pixel, after CImg's nearest-neighbour resize to 512x512 when a side is over 512:
// output i samples source floor(i * old / new), a top-left sample, not a centred one.
function lumaPlane(rgba, width, height, grey) {
  const shrink = width > DOWNSAMPLE_SIZE || height > DOWNSAMPLE_SIZE;
  const cols = shrink ? DOWNSAMPLE_SIZE : width;
  const rows = shrink ? DOWNSAMPLE_SIZE : height;
  const values = new Float32Array(rows * cols);
  for (let y = 0; y < rows; y++) {
    const sy = Math.floor((y * height) / rows);
    for (let x = 0; x < cols; x++) {
      const p = (sy * width + Math.floor((x * width) / cols)) * 4;
      values[y * cols + x] = grey
        ? rgba[p]
        : f32(f32(f32(LUMA_RED * rgba[p]) + f32(LUMA_GREEN * rgba[p + 1])) +
            f32(LUMA_BLUE * rgba[p + 2]));
    }
  }
  return { values, rows, cols };
}

// The Jarosz tent filter (two box passes each way), then 64x64 samples at cell centres.
function downsampleTo64(luma, rows, cols) {
  if (rows === BLOCK && cols === BLOCK) return luma; // the reference skips filtering here
  const alongRows = jaroszWindow(cols);
  const alongCols = jaroszWindow(rows);
  let buffer = luma;
  for (let pass = 0; pass < 2; pass++) {
    buffer = boxFilter(buffer, cols, 1, rows, cols, alongRows); // each row, left to right
    buffer = boxFilter(buffer, rows, cols, cols, 1, alongCols); // each column, top to bottom
  }
  const block = new Float32Array(BLOCK * BLOCK);
  for (let i = 0; i < BLOCK; i++) {
    const row = Math.floor(((i + 0.5) * rows) / BLOCK);
    for (let j = 0; j < BLOCK; j++) {
      block[i * BLOCK + j] = buffer[row * cols + Math.floor(((j + 0.5) * cols) / BLOCK)];
    }
  }
  return block;
}

function jaroszWindow(size) {
  return Math.floor((size + 127) / 128);
}

// Running-sum box average over `lanes` lines of `length` values each; the reference keeps one
// float sum per line and adds, subtracts and divides in exactly this order.
function boxFilter(values, length, step, lanes, laneStep, window) {
  const out = new Float32Array(values.length);
  const half = Math.floor((window + 2) / 2);
  for (let lane = 0; lane < lanes; lane++) {
    const base = lane * laneStep;
    let total = 0;
    for (let read = 0; read < half - 1; read++) total = f32(total + values[base + read * step]);
    let count = half - 1;
    for (let write = 0; write < length; write++) {
      const read = write + half - 1;
      const drop = read - window;
      if (read < length) {
        total = f32(total + values[base + read * step]);
        count++;
      }
      if (drop >= 0) {
        total = f32(total - values[base + drop * step]);
        count--;
      }
      out[base + write * step] = f32(total / count);
    }
  }
  return out;
}

// The reference's gradient-count quality, 0-100. C's float-to-int conversion truncates toward
// zero before the absolute value is taken: Math.trunc, then Math.abs.
function qualityOf(block) {
  let total = 0;
  for (let i = 0; i < BLOCK - 1; i++) {
    for (let j = 0; j < BLOCK; j++) {
      total += Math.abs(Math.trunc(gradient(block[i * BLOCK + j], block[(i + 1) * BLOCK + j])));
    }
  }
  for (let i = 0; i < BLOCK; i++) {
    for (let j = 0; j < BLOCK - 1; j++) {
      total += Math.abs(Math.trunc(gradient(block[i * BLOCK + j], block[i * BLOCK + j + 1])));
    }
  }
  return Math.min(Math.floor(total / 90), 100);
}

function gradient(a, b) {
  return f32(f32(f32(a - b) * HUNDRED) / SCALE);
}

// Rows and columns 1-16 of the 64x64 DCT-II, each sum taken term by term like the reference.
function dct16(block) {
  const partial = new Float32Array(16 * BLOCK);
  for (let k = 0; k < BLOCK; k++) {
    for (let i = 0; i < 16; i++) {
      const m = DCT[i * BLOCK + k];
      for (let j = 0; j < BLOCK; j++) {
        partial[i * BLOCK + j] = f32(partial[i * BLOCK + j] + f32(m * block[k * BLOCK + j]));
      }
    }
  }
  const result = new Float32Array(256);
  for (let k = 0; k < BLOCK; k++) {
    for (let i = 0; i < 16; i++) {
      const p = partial[i * BLOCK + k];
      for (let j = 0; j < 16; j++) {
        result[i * 16 + j] = f32(result[i * 16 + j] + f32(p * DCT[j * BLOCK + k]));
      }
    }
  }
  return result;
}

// Bit 16*i + j is set when coefficient (i, j) exceeds the lower median (the 128th smallest of
// 256, as the reference's Torben median). Meta's hex prints 16-bit words from word 15 down to
// word 0, word i holding row i.
function hashHex(coefficients) {
  const median = Float32Array.from(coefficients).sort()[127];
  let hex = "";
  for (let i = 15; i >= 0; i--) {
    let word = 0;
    for (let j = 0; j < 16; j++) {
      if (coefficients[i * 16 + j] > median) word |= 1 << j;
    }
    hex += word.toString(16).padStart(4, "0");
  }
  return hex;
}
