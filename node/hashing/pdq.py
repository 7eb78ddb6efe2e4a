"""Local file hashing: MD5 and SHA-256 of any file, PDQ of images.

Everything happens on this machine: files are read from disk and nothing is sent anywhere.

PDQ here is bit-exact with Meta's C++ reference ``pdq-photo-hasher`` (facebook/ThreatExchange,
``pdq/cpp``), hash and quality alike, so hashes made here match hashes made by any member
running the reference. That means reproducing not only the PDQ algorithm but the reference's
image pipeline around it:

1. Decode with Pillow to the 8-bit pixels ImageMagick hands the reference (``node.imaging``
   explains alpha, CMYK, 16-bit and grey handling).
2. **EXIF orientation does not change the main hash**: ``pdq`` is of the pixels as stored, as
   the reference and other PDQ implementations compute it. But a phone photo tagged "rotate
   90°" and the upright copy a platform serves are some 124 bits apart, so when the tag is not
   1, ``upright_pdq`` is also given: the PDQ of the image with the orientation applied (as
   ``PIL.ImageOps.exif_transpose`` does, from the EXIF tag alone; XMP orientation is not read,
   as browsers do not honour it). The browser hasher (node/web/static) follows the same rule.
   HEIF keeps its orientation in the container and libheif applies it when decoding; the
   stored view is recovered by undoing it, so an iPhone HEIC photo gets the same two hashes
   as the camera JPEG with the same orientation tag.
3. An image over 512 pixels on either side is first resized to exactly 512x512 by CImg's
   nearest-neighbour ``resize(512, 512)``: output pixel (x, y) takes source pixel
   (floor(x * width / 512), floor(y * height / 512)), a top-left sample, not a centred one.
4. Luma, the Jarosz tent filter, decimation to 64x64, the quality metric and the 16x16 DCT
   are computed in float32 in exactly the reference's order of operations, so every rounding
   step agrees. (The ``pdqhash`` package computes luma in float64 and so can differ in the
   last bit of a pixel, and occasionally in a hash bit.)

Quality is 0-100; below 50 a hash is unreliable (Meta's recommended discard threshold).
"""

from __future__ import annotations

import hashlib
import math
import os
import stat
import warnings
from dataclasses import dataclass
from functools import cache
from typing import BinaryIO, Final

import numpy as np
from numpy.typing import NDArray
from PIL import Image, UnidentifiedImageError

from node.hashing.errors import HashingError
from node.hashing.imaging import Pixels, image_pixels, views

UNRELIABLE_BELOW: Final = 50
"""PDQ quality under which a hash is flagged unreliable."""

MIN_DIMENSION: Final = 5
"""The reference gives an all-zero hash of quality 0 to images smaller than this on a side."""

DOWNSAMPLE_SIZE: Final = 512
_CHUNK: Final = 1 << 20
_BOMB: Final = "image refused as a possible decompression bomb"

_LUMA_RED: Final = np.float32(0.299)
_LUMA_GREEN: Final = np.float32(0.587)
_LUMA_BLUE: Final = np.float32(0.114)

Floats = NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class FileHashes:
    """The hashes of one local file."""

    path: str
    md5: bytes
    sha256: bytes
    pdq: bytes | None  # 32 bytes; .hex() is what Meta's tools print
    quality: int | None
    note: str | None  # why pdq is None, or None
    orientation: int = 1  # the EXIF orientation tag, 1-8 (1: as stored, or no tag)
    upright_pdq: bytes | None = None  # PDQ with the orientation applied, when it is not 1
    upright_quality: int | None = None

    @property
    def unreliable(self) -> bool:
        """True when the PDQ hash is too low in quality to act on."""
        return self.quality is not None and self.quality < UNRELIABLE_BELOW

    @property
    def upright_unreliable(self) -> bool:
        """True when the upright PDQ hash is too low in quality to act on."""
        return self.upright_quality is not None and self.upright_quality < UNRELIABLE_BELOW

    def to_json(self) -> dict[str, object]:
        """The JSON form: digests and PDQ as lowercase hex.

        The orientation and upright fields are there only when there is an upright hash, so
        the line for an image without rotation is unchanged.
        """
        doc: dict[str, object] = {
            "file": self.path,
            "md5": self.md5.hex(),
            "sha256": self.sha256.hex(),
            "pdq": None if self.pdq is None else self.pdq.hex(),
            "quality": self.quality,
            "unreliable": self.unreliable,
            "note": self.note,
        }
        if self.upright_pdq is not None:
            doc["orientation"] = self.orientation
            doc["upright_pdq"] = self.upright_pdq.hex()
            doc["upright_quality"] = self.upright_quality
            doc["upright_unreliable"] = self.upright_unreliable
        return doc


@dataclass(frozen=True, slots=True)
class _ImageHashes:
    """PDQ of one image as stored and, when EXIF orientation is not 1, upright; or a note."""

    pdq: bytes | None = None
    quality: int | None = None
    note: str | None = None
    orientation: int = 1
    upright_pdq: bytes | None = None
    upright_quality: int | None = None


def hash_file(path: str | os.PathLike[str]) -> FileHashes:
    """Hash one local file: MD5 and SHA-256 always, PDQ when it is a decodable image.

    Raises HashingError when the file cannot be read at all. A file that is not an image, or
    an image that cannot be decoded, still gets its digests, with ``pdq`` None and a note.
    """
    name = os.fspath(path)
    with _open_regular_file(name) as stream:
        try:
            md5, sha256 = _digests(stream)
            stream.seek(0)
        except OSError as exc:
            raise HashingError(f"cannot read {name}: {exc.strerror or exc}") from exc
        image = _pdq_of_stream(stream)
    return FileHashes(
        name,
        md5,
        sha256,
        image.pdq,
        image.quality,
        image.note,
        image.orientation,
        image.upright_pdq,
        image.upright_quality,
    )


def pdq_of_path(path: str | os.PathLike[str]) -> tuple[bytes, int]:
    """PDQ hash and quality of an image file; raises HashingError when it has none."""
    name = os.fspath(path)
    with _open_regular_file(name) as stream:
        image = _pdq_of_stream(stream)
    if image.pdq is None or image.quality is None:
        raise HashingError(f"no PDQ hash for {name}: {image.note}")
    return image.pdq, image.quality


def pdq_of_image(image: Image.Image) -> tuple[bytes, int]:
    """PDQ hash (32 bytes) and quality of an image, exactly as the reference computes them.

    Like the reference, an image under 5 pixels on a side gets 32 zero bytes and quality 0.
    Raises ValueError for a mode Pillow cannot convert to RGB.
    """
    return pdq_of_pixels(image_pixels(image))


def pdq_of_pixels(pixels: Pixels) -> tuple[bytes, int]:
    """PDQ hash and quality of 8-bit pixels, grey (H, W) or RGB (H, W, 3).

    Takes pixels as given: ``node.imaging.image_pixels`` is what turns an all-grey RGB image
    into one channel, as the reference's decoder does.
    """
    height, width = pixels.shape[:2]
    if height < MIN_DIMENSION or width < MIN_DIMENSION:
        return bytes(32), 0
    if height > DOWNSAMPLE_SIZE or width > DOWNSAMPLE_SIZE:
        pixels = _cimg_nearest_resize(pixels, DOWNSAMPLE_SIZE, DOWNSAMPLE_SIZE)
    block = _downsample_to_64(_luma(pixels))
    quality = _quality(block)
    return _hash_bits(_dct_16x16(block)), quality


# ---------------------------------------------------------------------------------------------
# Reading files


def _open_regular_file(name: str) -> BinaryIO:
    # O_NONBLOCK so that a FIFO cannot hang us before fstat shows what it is.
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(name, flags)
    except OSError as exc:
        raise HashingError(f"cannot read {name}: {exc.strerror or exc}") from exc
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = "a directory" if stat.S_ISDIR(mode) else "not a regular file"
            raise HashingError(f"cannot hash {name}: it is {kind}")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _digests(stream: BinaryIO) -> tuple[bytes, bytes]:
    """MD5 and SHA-256 in one pass, a chunk at a time, so videos never sit in memory."""
    md5 = hashlib.md5(usedforsecurity=False)
    sha256 = hashlib.sha256()
    while chunk := stream.read(_CHUNK):
        md5.update(chunk)
        sha256.update(chunk)
    return md5.digest(), sha256.digest()


def _pdq_of_stream(stream: BinaryIO) -> _ImageHashes:
    """The stream's PDQ hashes, or only a note saying why it has none."""
    try:
        with warnings.catch_warnings():
            # Pillow warns about (and past twice its limit refuses) huge images; the size check
            # below refuses them all with one clear note instead.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(stream)
    except Image.DecompressionBombError as exc:
        return _ImageHashes(note=f"{_BOMB}: {exc}")
    except UnidentifiedImageError:
        return _ImageHashes(note="not an image: format not recognised")
    except Exception as exc:  # a malformed header can make Pillow raise nearly anything
        return _ImageHashes(note=f"not an image: {exc}")
    with image:
        return _pdq_of_opened(image)


def _pdq_of_opened(image: Image.Image) -> _ImageHashes:
    width, height = image.size
    limit = Image.MAX_IMAGE_PIXELS
    if limit is not None and width * height > limit:
        return _ImageHashes(note=f"{_BOMB}: {width}x{height} is over the limit of {limit} pixels")
    if width < MIN_DIMENSION or height < MIN_DIMENSION:
        # The reference's all-zero "hash" here is a placeholder, not a hash worth sharing.
        return _ImageHashes(note=f"image too small for PDQ: {width}x{height} (minimum 5x5)")
    try:
        image.load()
        stored, orientation, shown = views(image)
        pixels = image_pixels(stored)
        turned = None if shown is None else image_pixels(shown)
    except Exception as exc:  # decoders raise many types; one bad file must not stop a batch
        kind = image.format or "image"
        return _ImageHashes(note=f"cannot decode {kind}: {exc or type(exc).__name__}")
    pdq, quality = pdq_of_pixels(pixels)
    if turned is None:
        return _ImageHashes(pdq, quality)
    upright_pdq, upright_quality = pdq_of_pixels(turned)
    return _ImageHashes(pdq, quality, None, orientation, upright_pdq, upright_quality)


# ---------------------------------------------------------------------------------------------
# The reference pipeline, in float32 and in the reference's order of operations


def _cimg_nearest_resize(pixels: Pixels, width: int, height: int) -> Pixels:
    """CImg's nearest-neighbour resize: output i samples source floor(i * old / new)."""
    rows = np.arange(height, dtype=np.int64) * pixels.shape[0] // height
    cols = np.arange(width, dtype=np.int64) * pixels.shape[1] // width
    resized: Pixels = pixels[rows[:, None], cols[None, :]]
    return resized


def _luma(pixels: Pixels) -> Floats:
    if pixels.ndim == 2:
        return pixels.astype(np.float32)
    red, green, blue = (pixels[..., c].astype(np.float32) for c in range(3))
    luma: Floats = _LUMA_RED * red + _LUMA_GREEN * green + _LUMA_BLUE * blue
    return luma


def _downsample_to_64(luma: Floats) -> Floats:
    """Tent-filter (two box passes each way) and pick 64x64 samples at cell centres."""
    rows, cols = luma.shape
    if rows == 64 and cols == 64:
        return luma  # the reference skips filtering when there is nothing to shrink
    along_rows, along_cols = _jarosz_window(cols), _jarosz_window(rows)
    buffer = luma
    for _ in range(2):
        buffer = _box_filter(buffer.T, along_rows).T
        buffer = _box_filter(buffer, along_cols)
    pick_rows = [int((i + 0.5) * rows / 64) for i in range(64)]
    pick_cols = [int((j + 0.5) * cols / 64) for j in range(64)]
    return np.ascontiguousarray(buffer[np.ix_(pick_rows, pick_cols)])


def _jarosz_window(size: int) -> int:
    """Box window for one pass: half a 64th of the side, rounded up."""
    return (size + 127) // 128


def _box_filter(values: Floats, window: int) -> Floats:
    """Running-sum box average down axis 0, each column its own lane.

    The reference keeps one float running sum per line and adds, subtracts and divides in
    this order; doing the same steps on whole rows of lanes rounds identically.
    """
    values = np.ascontiguousarray(values)
    length = values.shape[0]
    half = (window + 2) // 2
    out = np.empty_like(values)
    total = np.zeros(values.shape[1], dtype=np.float32)
    for read in range(half - 1):
        total = total + values[read]
    count = half - 1
    for write in range(length):
        read, drop = write + half - 1, write + half - 1 - window
        if read < length:
            total = total + values[read]
            count += 1
        if drop >= 0:
            total = total - values[drop]
            count -= 1
        out[write] = total / np.float32(count)
    return out


def _quality(block: Floats) -> int:
    """The reference's gradient-count quality metric, 0-100."""
    hundred, scale = np.float32(100), np.float32(255)
    down = (block[:-1, :] - block[1:, :]) * hundred / scale
    across = (block[:, :-1] - block[:, 1:]) * hundred / scale
    # C's float-to-int conversion truncates toward zero before the absolute value is taken.
    total = int(np.abs(down.astype(np.int64)).sum() + np.abs(across.astype(np.int64)).sum())
    return min(total // 90, 100)


def _dct_16x16(block: Floats) -> Floats:
    """Rows and columns 1-16 of the 64x64 DCT-II, summed term by term like the reference."""
    matrix = _dct_matrix()
    partial = np.zeros((16, 64), dtype=np.float32)
    for k in range(64):
        partial = partial + matrix[:, k : k + 1] * block[k : k + 1, :]
    result = np.zeros((16, 16), dtype=np.float32)
    for k in range(64):
        result = result + partial[:, k : k + 1] * matrix[:, k][None, :]
    return result


@cache
def _dct_matrix() -> Floats:
    """The 16x64 DCT basis, computed in double and stored as float like the reference's."""
    scale = float(np.float32(math.sqrt(2.0 / 64.0)))
    step = math.pi / 2.0 / 64.0
    entries = [
        [scale * math.cos(step * (i + 1) * (2 * j + 1)) for j in range(64)] for i in range(16)
    ]
    matrix = np.array(entries, dtype=np.float32)
    matrix.setflags(write=False)
    return matrix


def _hash_bits(coefficients: Floats) -> bytes:
    """Bit 16*i + j is set when coefficient (i, j) exceeds the median, laid out as Meta's hex.

    The reference's median (Torben's method) is the lower median: the 128th smallest of 256.
    Its hex form prints 16-bit words from word 15 down to word 0, word i holding row i.
    """
    median = np.sort(coefficients, axis=None)[127]
    bits = (coefficients > median).astype(np.uint32)
    words = (bits << np.arange(16, dtype=np.uint32)).sum(axis=1)
    return b"".join(int(word).to_bytes(2, "big") for word in words[::-1])
