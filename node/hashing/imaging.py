"""Decode images into the 8-bit pixels that PDQ hashes, the way Meta's reference sees them.

Meta's ``pdq-photo-hasher`` reads images through CImg, which has ImageMagick convert the file
to PNM. Its pixels are therefore what ImageMagick writes: 8-bit RGB, or 8-bit grey when every
pixel of the image is grey. This module turns any Pillow image into the same thing.

Policies, and why:

- **Alpha is dropped**, keeping each pixel's stored colour. PNM has no alpha, so the reference
  does exactly this, and python-threatexchange ignores alpha too. Compositing onto white or
  black would give hashes other members' hashers never produce: for a partly transparent
  test image (tests/data/pdq/LA.png) they land 60 and 68 bits away from the reference's.
- **Grey stays grey.** An image whose pixels all have R == G == B is hashed from its grey value,
  as the reference does (ImageMagick writes such images as one-channel PGM). This matters for
  bit-exactness: the float luma of a grey RGB pixel is not always exactly its grey value.
- **CMYK** is converted multiplicatively, R = 255 (1 - C)(1 - K). Pillow's converter computes
  exactly what ImageMagick does (the tests check every C, K pair), so CMYK JPEGs hash as in
  the reference; taking the C, M, Y channels as if they were RGB would invert the picture.
- **Wide greyscale** (``I``, ``I;16*``, ``F``) carries no bit depth: Pillow's ``convert()`` puts
  8-bit values in these modes, while 16-bit files load with values up to 65535. Values within
  0-255 are taken as 8-bit; larger ones as 16-bit, scaled by 255/65535 with rounding (as
  ImageMagick's ``-depth 8``); ``F`` values within 0-1 as a unit range. The reference itself
  keeps only the low byte of 16-bit samples, which is noise, so it is no guide there.
- **EXIF orientation is ignored** by ``image_pixels``: pixels are hashed as stored, as the
  reference does. ``orientation_of`` and ``upright`` (both behind ``views``) give the second,
  upright view that ``node.hashing.pdq`` also hashes when the tag is not 1.
- **HEIC/HEIF** open through pillow-heif (registered here). libheif applies the container's
  rotation and mirroring (``irot``/``imir``) when decoding, and pillow-heif moves the EXIF tag
  to ``info["original_orientation"]``, leaving 1 behind. So a decoded HEIF image is the upright
  view, and ``views`` undoes the orientation to get the stored (coded) pixels back: an iPhone
  photo has the same two views as a camera JPEG tagged with the same orientation. This takes
  the EXIF tag as what the decoder applied; phones and libheif write the two in step (pillow-
  heif exposes no public way to read ``irot``/``imir`` themselves).
"""

from __future__ import annotations

import warnings
from typing import Final

import numpy as np
import pillow_heif
from numpy.typing import NDArray
from PIL import Image

pillow_heif.register_heif_opener()

Pixels = NDArray[np.uint8]
"""8-bit pixels: shape (height, width) for grey, (height, width, 3) for RGB."""

_PASS_THROUGH: Final = frozenset({"L", "RGB"})
_TO_GREY: Final = {"1": "L", "LA": "LA", "La": "LA"}
_TO_RGB: Final = {"P": "RGBA", "PA": "RGBA", "RGBA": "RGBA", "RGBa": "RGBA", "RGBX": "RGB"}
_WIDE_GREY: Final = frozenset({"I", "F", "I;16", "I;16L", "I;16B", "I;16N"})

_Q16_MAX: Final = 65535.0

_ORIENTATION_TAG: Final = 0x0112
# What each EXIF orientation asks for, as PIL.ImageOps.exif_transpose applies it.
_UPRIGHT: Final = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
# What undoes each: the two quarter turns swap, every flip and half turn undoes itself.
_UNDO: Final = {
    **_UPRIGHT,
    6: Image.Transpose.ROTATE_90,
    8: Image.Transpose.ROTATE_270,
}


def orientation_of(image: Image.Image) -> int:
    """The EXIF orientation tag (1-8) of a loaded image; 1 when absent, malformed or unknown.

    Read from the EXIF block alone: ``Image.getexif`` also falls back to XMP, which browsers
    ignore, and the browser hasher must agree with this one.
    """
    raw = image.info.get("exif")
    if not isinstance(raw, bytes | bytearray) or not raw:
        return 1
    exif = Image.Exif()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow warns of the damage it then works around
            exif.load(bytes(raw))
            value = exif.get(_ORIENTATION_TAG, 1)
    except Exception:  # a damaged EXIF block is no orientation, not an undecodable image
        return 1
    return value if isinstance(value, int) and value in _UPRIGHT else 1


def upright(image: Image.Image, orientation: int) -> Image.Image:
    """The image with an EXIF orientation (2-8) applied: a pure permutation of its pixels."""
    return image.transpose(_UPRIGHT[orientation])


def views(image: Image.Image) -> tuple[Image.Image, int, Image.Image | None]:
    """A loaded image as stored, its orientation, and its upright view when that is not 1.

    Most decoders hand over the stored pixels and leave the orientation in EXIF. The HEIF
    decoder has already applied it (see the module docstring): its output is the upright
    view, and the stored pixels are that view with the orientation undone.
    """
    applied = image.info.get("original_orientation") if image.format == "HEIF" else None
    if isinstance(applied, int) and applied in _UPRIGHT:
        return image.transpose(_UNDO[applied]), applied, image
    orientation = orientation_of(image)
    return image, orientation, None if orientation == 1 else upright(image, orientation)


def image_pixels(image: Image.Image) -> Pixels:
    """The 8-bit grey or RGB pixels the reference would hash for ``image``."""
    mode = image.mode
    if mode in _PASS_THROUGH:
        pixels: Pixels = np.asarray(image, dtype=np.uint8)
    elif mode in _TO_GREY:
        pixels = np.asarray(image.convert(_TO_GREY[mode]), dtype=np.uint8)
        pixels = pixels[..., 0] if pixels.ndim == 3 else pixels
    elif mode in _WIDE_GREY:
        pixels = _wide_grey_to_8bit(np.asarray(image), unit_range=mode == "F")
    else:
        # P, PA, RGBA, CMYK, HSV, LAB, YCbCr...: Pillow's converters are faithful for these.
        rgb = image.convert(_TO_RGB.get(mode, "RGB"))
        pixels = np.asarray(rgb, dtype=np.uint8)[..., :3]
    return _grey_if_all_grey(pixels)


def _grey_if_all_grey(pixels: Pixels) -> Pixels:
    """One channel when every pixel is grey, as ImageMagick writes such images as PGM."""
    if pixels.ndim == 2:
        return pixels
    red, green, blue = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    if np.array_equal(red, green) and np.array_equal(green, blue):
        return np.ascontiguousarray(red)
    return pixels


def _wide_grey_to_8bit(values: NDArray[np.generic], *, unit_range: bool) -> Pixels:
    """Scale 32-bit integer, 16-bit or float greyscale to 8 bits (see the module docstring)."""
    wide = values.astype(np.float64)
    top = float(wide.max()) if wide.size else 0.0
    if unit_range and top <= 1.0:
        wide = wide * 255.0
    elif top > 255.0:
        # round(v * 255 / 65535), which is what ImageMagick's depth reduction computes.
        wide = np.clip(wide, 0.0, _Q16_MAX) * (255.0 / _Q16_MAX)
    return np.floor(np.clip(wide, 0.0, 255.0) + 0.5).astype(np.uint8)
