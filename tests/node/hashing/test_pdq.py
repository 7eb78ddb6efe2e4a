"""Local file hashing, and PDQ bit-exact with Meta's C++ reference.

Where the expected values come from ("the reference build"): Meta's ``pdq-photo-hasher``
compiled from ThreatExchange ``pdq/cpp`` (the copy bundled in the pdqhash 0.2.8 sdist) with
g++ -O3 as its Makefile does, on x86-64 Debian 12, decoding through CImg 2.2.0 and
ImageMagick 6.9.11-60 Q16. It printed ``hash,quality,file`` for each image named below. For
the eight ``dih/bridge-*.jpg`` images it prints exactly the hashes that ThreatExchange's
regression output ``pdq/cpp/reg_test/expected/out`` lists (as quoted in other projects' tests),
``original.jpg``'s among them: it is ``bridge-1-original.jpg``.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import sys
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from node.hashing.errors import HashingError
from node.hashing.imaging import image_pixels
from node.hashing.pdq import FileHashes, hash_file, pdq_of_image, pdq_of_path, pdq_of_pixels

DATA = Path(__file__).resolve().parents[2] / "data" / "pdq"

ORIGINAL_PDQ = "d8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b22"
MATCH_DISTANCE = 31  # Meta's recommended match threshold


def distance(a: bytes, b: bytes) -> int:
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).bit_count()


@pytest.fixture(scope="module")
def original() -> Image.Image:
    image = Image.open(DATA / "original.jpg")
    image.load()
    return image


# --- reference hashes, bit for bit -----------------------------------------------------------

# All values from the reference build (see the module docstring).
REFERENCE = [
    # 1600x1004: shrunk to 512x512 by CImg's nearest-neighbour resize first.
    ("original.jpg", ORIGINAL_PDQ, 100),
    # Exactly 512x512: no resize.
    (
        "square-512x512.jpg",
        "d8f8f0cec0f4a84f0637022a278f67f0b36e2ed596621e1d33e6339c4e9c9b22",
        100,
    ),
    ("q0122.jpg", "cfb2009ddd21c6dab0046a7745b5984757a8a4535b3377aea2591d32b33ff940", 100),
    # Nearly flat: quality 3, so unreliable.
    ("q0003.jpg", "54a9f7c321d1443c43ba566e21d4a13989a3553f1472611cbbc5fda59e03b677", 3),
    ("small.jpg", "0007001f003f003f007f00ff00ff00ff01ff01ff01ff03ff03ff03ff03ff03ff", 0),
    ("wee.jpg", "6227401f601ff4ccafcc9fad4b0d95d371a2eb7265a3285234d228ca94deeb2d", 100),
    # Grey + alpha, 99.6% of pixels partly transparent: alpha dropped, as the reference does.
    ("LA.png", "accb6d39648035f8125c8ce6ba65007de7b54c67a2d93ef7b8f33b0611306715", 100),
    # CMYK JPEG whose black channel is used: ImageMagick's CMYK to RGB, to the bit.
    ("cmyk-black.jpg", "f8fcf0eec0f4a84f0637022a078f63f0b36e2ed592221e1d33e6b39c4e9c9b22", 100),
    # Float32 luma: the pdqhash package (float64 luma) gets 4 bits of this one wrong.
    ("noise-16x257.png", "0101a3ec03ba56179cddfb0101e4235ab8097ecdf9b5b2a4af583d8c58bbc6fd", 100),
]


@pytest.mark.parametrize(("name", "expected", "quality"), REFERENCE)
def test_reference_hash_reproduced_exactly(name: str, expected: str, quality: int) -> None:
    result = hash_file(DATA / name)
    assert result.pdq is not None
    assert len(result.pdq) == 32
    assert result.pdq.hex() == expected
    assert result.quality == quality
    assert result.unreliable is (quality < 50)
    assert result.note is None


def test_pdq_of_path_and_of_image_agree_with_hash_file(original: Image.Image) -> None:
    expected = (bytes.fromhex(ORIGINAL_PDQ), 100)
    assert pdq_of_path(DATA / "original.jpg") == expected
    assert pdq_of_image(original) == expected


# Derived from original.jpg in memory; the reference build hashed the same pixels saved as PNG.
DERIVED = [
    # Wider than 512 but only 300 high: the resize shrinks columns and repeats rows.
    (
        (100, 100, 1100, 400),
        "ca4b1b093400f3f85bf26fe0dfb6fe4478f93b1381c1c74dbe60e011c12f0ce6",
        100,
    ),
    # Exactly 64x64: the reference skips the tent filter.
    ((0, 0, 64, 64), "c1b13e0dc3a37db9032dfc2d858b3a21849cdb233553d4b8aa973752c0753f96", 100),
    # The smallest size the reference hashes.
    ((0, 0, 5, 5), "cb7264d9749d9b2683e0c4f1cb723b0e7c9d64d9cb7264d9348d9b268360c4f1", 0),
]


@pytest.mark.parametrize(("box", "expected", "quality"), DERIVED)
def test_reference_hash_of_crops(
    original: Image.Image, box: tuple[int, int, int, int], expected: str, quality: int
) -> None:
    assert pdq_of_image(original.crop(box)) == (bytes.fromhex(expected), quality)


def test_grey_stored_as_rgb_hashes_like_grey(original: Image.Image) -> None:
    # The reference build gives this image original.jpg's hash (ImageMagick passes it as grey).
    grey_rgb = original.convert("L").convert("RGB")
    assert pdq_of_image(grey_rgb) == (bytes.fromhex(ORIGINAL_PDQ), 100)


def test_sixteen_bit_greyscale_is_scaled_not_truncated() -> None:
    # Expected: the reference build on `convert I16.png -depth 8` (ImageMagick's own 16-to-8
    # bit scaling). The reference on I16.png itself prints ab5f69b6…, because CImg keeps only
    # the low byte of each 16-bit sample: noise, not the picture.
    result = hash_file(DATA / "I16.png")
    assert result.pdq is not None
    assert result.pdq.hex() == "628dbaa85045ffef9b101e3214f156c24b1dbefba74d25a5c90d046c6b54e536"
    assert result.quality == 100


def test_too_small_for_pdq(original: Image.Image, tmp_path: Path) -> None:
    tiny = original.crop((0, 0, 4, 4))
    # The reference build prints an all-zero hash of quality 0 for this; so does pdq_of_image.
    assert pdq_of_image(tiny) == (bytes(32), 0)
    path = tmp_path / "tiny.png"
    tiny.save(path)
    result = hash_file(path)
    assert (result.pdq, result.quality) == (None, None)
    assert result.note == "image too small for PDQ: 4x4 (minimum 5x5)"


# --- every Pillow mode -----------------------------------------------------------------------

# Measured distance of original.convert(mode) from original.jpg's hash. Only bilevel loses
# anything: Floyd-Steinberg dithering itself moves 12 bits, and the reference build gives
# ThreatExchange's modes/1.png (made by this same conversion) that same hash.
MODE_DISTANCE = {"1": 12}
MODES = ["1", "L", "P", "PA", "LA", "La", "RGBA", "RGBa", "RGBX", "CMYK"]
MODES += ["I", "I;16", "I;16B", "I;16L", "I;16N", "F", "HSV", "LAB", "YCbCr"]


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_hashes_like_the_original(original: Image.Image, mode: str) -> None:
    variant = original.convert(mode)
    assert variant.mode == mode
    pdq, quality = pdq_of_image(variant)
    assert distance(pdq, bytes.fromhex(ORIGINAL_PDQ)) <= MODE_DISTANCE.get(mode, 0)
    assert quality == 100


def test_bilevel_matches_reference(original: Image.Image) -> None:
    # The reference build's hash of ThreatExchange's misc-images/modes/1.png.
    pdq, _ = pdq_of_image(original.convert("1"))
    assert pdq.hex() == "d8f871cec0f4a84f0a370822038f67f0b36e2ed596633e1d33e6b39c4e9c9b22"


def test_cmyk_converts_as_imagemagick_does() -> None:
    # ImageMagick 6 (Q16) writes CMYK as RGB with R = QR - (C/QR * (QR - K) + K), QR = 65535,
    # on 8-bit samples widened by 257, rounded, then narrowed with its ScaleQuantumToChar.
    cyan, black = np.meshgrid(np.arange(256), np.arange(256))
    cmyk = np.zeros((256, 256, 4), dtype=np.uint8)
    cmyk[..., 0], cmyk[..., 3] = cyan, black
    c, k = cyan * 257.0, black * 257.0
    red16 = np.floor(65535.0 - (c * (1 / 65535) * (65535.0 - k) + k) + 0.5).astype(np.int64)
    expected = ((red16 + 128) - ((red16 + 128) >> 8)) >> 8
    assert np.array_equal(image_pixels(Image.fromarray(cmyk, "CMYK"))[..., 0], expected)


def test_wide_greyscale_in_16_bit_range_is_scaled(original: Image.Image) -> None:
    wide = np.asarray(original.convert("L"), dtype=np.int32) * 257
    for image in (Image.fromarray(wide), Image.fromarray(wide.astype(np.float32))):
        assert pdq_of_image(image)[0].hex() == ORIGINAL_PDQ


def test_float_greyscale_in_unit_range_is_scaled(original: Image.Image) -> None:
    unit = np.asarray(original.convert("L"), dtype=np.float32) / 255
    assert pdq_of_image(Image.fromarray(unit))[0].hex() == ORIGINAL_PDQ


# --- EXIF orientation ------------------------------------------------------------------------


def test_exif_orientation_is_ignored(original: Image.Image, tmp_path: Path) -> None:
    picture = original.crop((0, 0, 900, 600))
    rotate_90 = Image.Exif()
    rotate_90[0x0112] = 6  # Orientation: display rotated 90° clockwise
    tagged, plain = tmp_path / "tagged.png", tmp_path / "plain.png"
    picture.save(tagged, exif=rotate_90)
    picture.save(plain)
    with Image.open(tagged) as check:
        assert check.getexif()[0x0112] == 6

    stored = pdq_of_image(picture)[0]
    assert hash_file(tagged).pdq == hash_file(plain).pdq == stored
    # Honouring the tag would have hashed the rotated picture, a different hash entirely.
    shown = pdq_of_image(picture.transpose(Image.Transpose.ROTATE_270))[0]
    assert distance(stored, shown) > MATCH_DISTANCE


# --- digests, non-images and errors ----------------------------------------------------------


def test_digests_of_a_large_non_image(tmp_path: Path) -> None:
    # An MP4-like file bigger than the read chunk: digests streamed, no PDQ, not an error.
    body = b"\x00\x00\x00\x18ftypmp42" + np.random.default_rng(5).bytes(3 * 2**20 + 7)
    video = tmp_path / "clip.mp4"
    video.write_bytes(body)
    result = hash_file(video)
    assert result.md5 == hashlib.md5(body).digest()
    assert result.sha256 == hashlib.sha256(body).digest()
    assert (result.pdq, result.quality, result.unreliable) == (None, None, False)
    assert result.note == "not an image: format not recognised"


def test_text_file_gets_digests_only(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a picture\n")
    result = hash_file(text)
    assert result.sha256 == hashlib.sha256(b"not a picture\n").digest()
    assert result.pdq is None
    assert result.note is not None
    assert result.note.startswith("not an image")
    with pytest.raises(HashingError) as info:
        pdq_of_path(text)
    assert info.value.message == f"no PDQ hash for {text}: not an image: format not recognised"


def test_truncated_image_gets_digests_and_a_reason(tmp_path: Path) -> None:
    head = (DATA / "original.jpg").read_bytes()[:60_000]
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(head)
    result = hash_file(broken)
    assert result.sha256 == hashlib.sha256(head).digest()
    assert result.pdq is None
    assert result.note is not None
    assert result.note.startswith("cannot decode JPEG: image file is truncated")


def test_corrupt_png_gets_a_reason(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.png"
    path.write_bytes(_png(64, 64, idat=b"definitely not zlib"))
    result = hash_file(path)
    assert result.pdq is None
    assert result.note is not None
    assert result.note.startswith("cannot decode PNG")


@pytest.mark.parametrize("side", [10_000, 20_000])
def test_decompression_bomb_is_refused(tmp_path: Path, side: int) -> None:
    # 10000² is over Pillow's warning limit, 20000² over its error limit; both are refused
    # from the header alone, before any pixel is decoded.
    path = tmp_path / "bomb.png"
    path.write_bytes(_png(side, side, idat=zlib.compress(b"")))
    result = hash_file(path)
    assert result.pdq is None
    assert result.note is not None
    assert result.note.startswith("image refused as a possible decompression bomb: ")
    assert result.sha256 == hashlib.sha256(path.read_bytes()).digest()


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "gone.jpg"
    with pytest.raises(HashingError) as info:
        hash_file(missing)
    assert info.value.message == f"cannot read {missing}: No such file or directory"


def test_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(HashingError) as info:
        hash_file(tmp_path)
    assert info.value.message == f"cannot hash {tmp_path}: it is a directory"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_named_pipe_is_an_error_not_a_hang(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(HashingError, match="it is not a regular file"):
        hash_file(fifo)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork to drop root")
def test_unreadable_file_is_an_error(tmp_path: Path) -> None:
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(b"\xff\xd8")
    secret.chmod(0)
    message = _hashing_error_without_root(secret)
    assert message == f"cannot read {secret}: Permission denied"


# --- JSON, reliability, locality -------------------------------------------------------------


def test_json_shape(tmp_path: Path) -> None:
    image = hash_file(DATA / "q0003.jpg").to_json()
    assert list(image) == ["file", "md5", "sha256", "pdq", "quality", "unreliable", "note"]
    assert image["file"] == str(DATA / "q0003.jpg")
    assert image["md5"] == hashlib.md5((DATA / "q0003.jpg").read_bytes()).hexdigest()
    assert image["pdq"] == "54a9f7c321d1443c43ba566e21d4a13989a3553f1472611cbbc5fda59e03b677"
    assert (image["quality"], image["unreliable"], image["note"]) == (3, True, None)

    text = tmp_path / "a.txt"
    text.write_bytes(b"")
    other = hash_file(text).to_json()
    assert other["sha256"] == hashlib.sha256(b"").hexdigest()
    assert (other["pdq"], other["quality"], other["unreliable"]) == (None, None, False)
    assert json.loads(json.dumps(other)) == other


@pytest.mark.parametrize(
    ("quality", "unreliable"), [(None, False), (0, True), (49, True), (50, False)]
)
def test_unreliable_below_quality_50(quality: int | None, unreliable: bool) -> None:
    pdq = None if quality is None else bytes(32)
    hashes = FileHashes("x", bytes(16), bytes(32), pdq, quality, None)
    assert hashes.unreliable is unreliable


def test_hashing_opens_no_network_connection() -> None:
    with _network_events() as events:
        hash_file(DATA / "original.jpg")
        hash_file(DATA / "I16.png")
    assert events == []


def test_pdq_of_pixels_accepts_grey_and_rgb(original: Image.Image) -> None:
    grey = np.asarray(original.convert("L"))
    assert pdq_of_pixels(grey)[0].hex() == ORIGINAL_PDQ
    assert pdq_of_pixels(np.asarray(original))[0].hex() == ORIGINAL_PDQ


# --- helpers ---------------------------------------------------------------------------------


def _png(width: int, height: int, *, idat: bytes) -> bytes:
    """An 8-bit greyscale PNG with the given header size and raw IDAT payload."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    signature = b"\x89PNG\r\n\x1a\n"
    return signature + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _hashing_error_without_root(path: Path) -> str:
    """hash_file's HashingError message for ``path``, in a process that is not root.

    Root reads any file whatever its mode, so a root test run forks and drops to ``nobody``.
    """
    if os.geteuid() != 0:
        with pytest.raises(HashingError) as info:
            hash_file(path)
        return info.value.message
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        try:
            os.setgid(65534)
            os.setuid(65534)
            try:
                hash_file(path)
                message = "no error"
            except HashingError as exc:
                message = exc.message
            os.write(write_end, message.encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        message = pipe.read().decode()
    os.waitpid(pid, 0)
    return message


_watching: list[list[str]] = []
_audit_installed = False


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _watching and event.startswith(("socket.", "urllib.", "http.")):
        _watching[-1].append(event)


@contextmanager
def _network_events() -> Iterator[list[str]]:
    """Collect the socket and HTTP audit events raised inside the block."""
    global _audit_installed
    if not _audit_installed:
        sys.addaudithook(_audit)  # audit hooks cannot be removed; outside a block it idles
        _audit_installed = True
    events: list[str] = []
    _watching.append(events)
    try:
        yield events
    finally:
        _watching.pop()


def test_the_uniform_grey_table_is_what_the_hasher_gives_uniform_images() -> None:
    from node.replica.uniform_pdq import UNIFORM_GREY_PDQ

    found = {pdq_of_image(Image.new("L", (64, 64), level))[0] for level in range(256)}
    assert found == UNIFORM_GREY_PDQ
    # Any size, grey or RGB grey: the same hashes; a uniform colour has quality 0.
    assert pdq_of_image(Image.new("RGB", (317, 45), (90, 90, 90)))[0] in UNIFORM_GREY_PDQ
    assert pdq_of_image(Image.new("RGB", (300, 200), (10, 200, 30)))[1] == 0
