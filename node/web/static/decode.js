// Decoding an image file to the pixels Pillow (and so the Python hasher) sees, in the browser.
//
// createImageBitmap with no colour conversion and no premultiplication, on a file whose EXIF
// orientation exif.js has rewritten to 1, gives the stored pixels: byte for byte Pillow's for
// every reference image but a 16-bit PNG, where Chromium keeps the high byte of each sample and
// Pillow rounds (tests/web/test_hasher.py lists it). Chromium applies EXIF orientation even
// when told imageOrientation "none", hence the rewrite.

import { MIN_DIMENSION } from "./pdq.js";

// The file reaches here with its EXIF orientation rewritten to 1 (exif.js), so "from-image"
// gives the stored pixels; browsers that predate it know only "none".
const DECODE = { colorSpaceConversion: "none", premultiplyAlpha: "none" };
const ORIENTATIONS = ["from-image", "none"];

/** A file the hasher will not decode, with the reason code the result carries. */
export class Refusal extends Error {
  constructor(reason) {
    super(reason);
    this.reason = reason;
  }
}

/**
 * The stored pixels of an image file as RGBA: {rgba, width, height, approximate}. Throws a
 * Refusal("cannot_decode" | "too_small" | "image_too_large") for a file it cannot use.
 * options.maxImagePixels bounds width * height.
 */
export async function decodePixels(file, options) {
  const bitmap = await decodeBitmap(file);
  try {
    const { width, height } = bitmap;
    if (width < MIN_DIMENSION || height < MIN_DIMENSION) throw new Refusal("too_small");
    if (width * height > options.maxImagePixels) throw new Refusal("image_too_large");
    const canvas = new OffscreenCanvas(width, height);
    const context = canvas.getContext("2d", { willReadFrequently: true });
    context.drawImage(bitmap, 0, 0);
    const rgba = context.getImageData(0, 0, width, height).data;
    if (isOpaque(rgba)) return { rgba, width, height, approximate: false };
    // A 2D canvas stores premultiplied colour, which changes the colour of partly transparent
    // pixels (and erases it where alpha is 0); the reference drops alpha and keeps the stored
    // colour. A WebGL texture of the unpremultiplied bitmap gives the stored colour exactly.
    const straight = straightPixels(bitmap);
    if (straight) return { rgba: straight, width, height, approximate: false };
    return { rgba, width, height, approximate: true };
  } finally {
    bitmap.close();
  }
}

async function decodeBitmap(file) {
  for (const imageOrientation of ORIENTATIONS) {
    try {
      return await createImageBitmap(file, { ...DECODE, imageOrientation });
    } catch (error) {
      if (!(error instanceof TypeError)) break; // TypeError: an option this browser lacks
    }
  }
  throw new Refusal("cannot_decode");
}

function isOpaque(rgba) {
  for (let p = 3; p < rgba.length; p += 4) if (rgba[p] !== 255) return false;
  return true;
}

let gl = undefined; // created on first need; null when this browser has no WebGL

function straightPixels(bitmap) {
  if (gl === undefined) {
    const canvas = new OffscreenCanvas(1, 1);
    gl = canvas.getContext("webgl2") ?? canvas.getContext("webgl") ?? null;
  }
  if (!gl || gl.isContextLost()) return null;
  const { width, height } = bitmap;
  const limit = gl.getParameter(gl.MAX_TEXTURE_SIZE);
  if (width > limit || height > limit) return null;
  const texture = gl.createTexture();
  const framebuffer = gl.createFramebuffer();
  try {
    gl.bindTexture(gl.TEXTURE_2D, texture);
    gl.pixelStorei(gl.UNPACK_PREMULTIPLY_ALPHA_WEBGL, false);
    gl.pixelStorei(gl.UNPACK_COLORSPACE_CONVERSION_WEBGL, gl.NONE);
    gl.pixelStorei(gl.UNPACK_FLIP_Y_WEBGL, false);
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA, gl.RGBA, gl.UNSIGNED_BYTE, bitmap);
    gl.bindFramebuffer(gl.FRAMEBUFFER, framebuffer);
    gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, texture, 0);
    if (gl.checkFramebufferStatus(gl.FRAMEBUFFER) !== gl.FRAMEBUFFER_COMPLETE) return null;
    const pixels = new Uint8Array(width * height * 4);
    gl.readPixels(0, 0, width, height, gl.RGBA, gl.UNSIGNED_BYTE, pixels);
    return gl.getError() === gl.NO_ERROR ? new Uint8ClampedArray(pixels.buffer) : null;
  } finally {
    gl.bindFramebuffer(gl.FRAMEBUFFER, null);
    gl.deleteFramebuffer(framebuffer);
    gl.deleteTexture(texture);
  }
}
