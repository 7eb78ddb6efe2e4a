"""The browser hasher (node/web/static) against the Python hasher, in Debian's Chromium.

Every file is hashed the way a victim would hash it: picked in a file input of a page served by
a real node, hashed in a Web Worker. The page's PDQ, quality, MD5 and SHA-256 must equal
``node.hashing.pdq.hash_file``'s on the same file, bit for bit. Where Chromium decodes other
pixels than Pillow, the differing pixels and hash bits are reported; the table per reference
image is kept in build/pdq-browser-vs-python.txt.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, Request, Route

from node.hashing.imaging import image_pixels
from node.hashing.pdq import FileHashes, hash_file, pdq_of_pixels
from tests.nodes import ROOT
from tests.web.conftest import (
    CHROMIUM,
    CHROMIUM_ARGS,
    PAGE_TIMEOUT_MS,
    REFERENCE,
    NodeThread,
    decoded_pixels,
    hash_in_page,
)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}
REPORT = ROOT / "build" / "pdq-browser-vs-python.txt"
REFERENCE_IMAGES = sorted(p for p in REFERENCE.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
MATCH_DISTANCE = 31
NO_WEBGL = ["--disable-gpu", "--disable-software-rasterizer"]

# Where Chromium's decoder gives other pixels than Pillow, so the hashes may differ although
# the arithmetic is exact. 16-bit PNG: Chromium keeps each sample's high byte (v >> 8), Pillow
# (like ImageMagick's -depth 8) rounds v * 255 / 65535; a quarter of the pixels are one level
# apart. Each entry: (differing pixels, differing hash bits) as measured with Chromium 156.
DECODER_DIFFERENCES = {"te-resources/I16.png": (16376, 0)}

ORIENTATION_NAMES = {
    2: "mirrored",
    3: "rotated 180",
    4: "flipped",
    5: "transposed",
    6: "rotated 90 cw",
    7: "transversed",
    8: "rotated 90 ccw",
}


def distance(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def expected(hashes: FileHashes) -> dict[str, Any]:
    """The fields of a page result that must equal the Python hasher's."""
    return {
        "md5": hashes.md5.hex(),
        "sha256": hashes.sha256.hex(),
        "pdq": None if hashes.pdq is None else hashes.pdq.hex(),
        "quality": hashes.quality,
        "unreliable": hashes.unreliable,
        "orientation": hashes.orientation,
        "upright_pdq": None if hashes.upright_pdq is None else hashes.upright_pdq.hex(),
        "upright_quality": hashes.upright_quality,
        "upright_unreliable": hashes.upright_unreliable,
    }


def rgb_of(rgba: bytes, width: int, height: int) -> np.ndarray:
    return np.frombuffer(rgba, dtype=np.uint8).reshape(height, width, 4)[..., :3]


def pillow_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        image.load()
        pixels = image_pixels(image)
    return pixels if pixels.ndim == 3 else np.stack([pixels] * 3, axis=-1)


# --- bit-exactness on the reference set ------------------------------------------------------


def test_reference_set_is_complete() -> None:
    # The set is copied from /work/shared/pdq-reference (see its README); CI has only the copy.
    assert len(REFERENCE_IMAGES) == 50
    assert set(DECODER_DIFFERENCES) <= {
        p.relative_to(REFERENCE).as_posix() for p in REFERENCE_IMAGES
    }


def test_every_reference_image_hashes_as_in_python(selftest: Page) -> None:
    results = hash_in_page(selftest, REFERENCE_IMAGES)
    table, mismatches = [], []
    for index, (path, result) in enumerate(zip(REFERENCE_IMAGES, results, strict=True)):
        name = path.relative_to(REFERENCE).as_posix()
        python = hash_file(path)
        assert result["reason"] is None, f"{name}: {result['reason']}"
        assert result["approximate"] is False, name
        assert result["format"] in {"jpeg", "png", "webp"}
        got = {key: result[key] for key in expected(python)}
        if name in DECODER_DIFFERENCES:
            table.append(_decoder_difference(selftest, index, path, name, result, python))
        elif got != expected(python):
            mismatches.append(f"{name}: page {got} != python {expected(python)}")
        else:
            table.append(f"{name}: equal (q={result['quality']})")
    print("\n".join(["", "browser vs Python PDQ, per reference image:", *table]))
    # Kept as an artifact beside the screenshots, for the record of what this Chromium does.
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    version = selftest.context.browser.version if selftest.context.browser else "?"
    lines = [f"# PDQ in Chromium {version} vs the Python hasher, per reference image", ""]
    REPORT.write_text("\n".join([*lines, *table, *mismatches, ""]))
    assert mismatches == []


def _decoder_difference(
    page: Page, index: int, path: Path, name: str, result: dict[str, Any], python: FileHashes
) -> str:
    """Check and describe a known decoder difference: other pixels, same arithmetic."""
    width, height, rgba = decoded_pixels(page, index)
    browser = rgb_of(rgba, width, height)
    pillow = pillow_rgb(path)
    assert browser.shape == pillow.shape
    pixels = int((browser != pillow).any(axis=-1).sum())
    assert python.pdq is not None
    bits = distance(result["pdq"], python.pdq.hex())
    # The listed exception still holds (when Chromium changes, update the list) ...
    assert (pixels, bits) == DECODER_DIFFERENCES[name], (pixels, bits)
    assert int(np.abs(browser.astype(int) - pillow.astype(int)).max()) == 1
    # ... and the page's arithmetic is exact on the pixels it decoded.
    pdq, quality = pdq_of_pixels(image_pixels(Image.fromarray(np.ascontiguousarray(browser))))
    assert (result["pdq"], result["quality"]) == (pdq.hex(), quality)
    assert (result["md5"], result["sha256"]) == (python.md5.hex(), python.sha256.hex())
    return (
        f"{name}: known decoder difference, {pixels} of {width * height} pixels differ by 1, "
        f"{bits} hash bits differ (q={result['quality']} vs {python.quality})"
    )


def test_partly_transparent_pixels_keep_their_stored_colour(selftest: Page) -> None:
    # 99.6% of LA.png's pixels are partly transparent, some fully: a 2D canvas would change
    # their colour (premultiplied storage), the reference keeps it. The page reads them exactly.
    path = REFERENCE / "te-resources" / "LA.png"
    hash_in_page(selftest, [path])
    width, height, rgba = decoded_pixels(selftest, 0)
    alpha = np.frombuffer(rgba, dtype=np.uint8).reshape(height, width, 4)[..., 3]
    assert (alpha < 255).mean() > 0.99
    assert (alpha == 0).any()
    assert np.array_equal(rgb_of(rgba, width, height), pillow_rgb(path))


# --- EXIF orientation -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    with Image.open(REFERENCE / "misc-images" / "modes" / "original.jpg") as image:
        return image.crop((0, 0, 900, 600))


def _tagged(photo: Image.Image, folder: Path, orientation: int, fmt: str) -> Path:
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = folder / f"orientation-{orientation}.{fmt.lower()}"
    options: dict[str, Any] = {"quality": 95} if fmt == "JPEG" else {}
    photo.save(path, format=fmt, exif=exif, **options)
    return path


def test_exif_orientation_gives_stored_and_upright_hashes(
    selftest: Page, photo: Image.Image, tmp_path: Path
) -> None:
    files = [_tagged(photo, tmp_path, n, "JPEG") for n in range(1, 9)]
    files += [_tagged(photo, tmp_path, 6, fmt) for fmt in ("PNG", "WEBP")]
    results = hash_in_page(selftest, files)
    stored = hash_file(files[0]).pdq
    assert stored is not None
    for path, result in zip(files, results, strict=True):
        python = hash_file(path)
        assert {key: result[key] for key in expected(python)} == expected(python), path.name
        # The stored pixels are the same picture whatever the tag says ...
        assert python.pdq == stored
        if python.orientation == 1:
            assert result["upright_pdq"] is None
            continue
        # ... and the upright hash is that of the picture as a viewer shows it.
        with Image.open(path) as image:
            shown = image.transpose(_TRANSPOSE[python.orientation])
            assert python.upright_pdq == pdq_of_pixels(image_pixels(shown))[0]
        assert python.orientation in ORIENTATION_NAMES


_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def test_rotated_phone_photo_matches_its_upright_copy(
    selftest: Page, photo: Image.Image, tmp_path: Path
) -> None:
    # A phone stores the sensor's pixels and tags them "rotate 90°"; a platform serves an
    # upright copy without the tag. The two are far apart; the upright hash matches the copy.
    phone = _tagged(photo, tmp_path, 6, "JPEG")
    served = tmp_path / "served.jpg"
    photo.transpose(Image.Transpose.ROTATE_270).save(served, quality=95)
    phone_result, served_result = hash_in_page(selftest, [phone, served])
    assert distance(phone_result["pdq"], served_result["pdq"]) > 100
    assert distance(phone_result["upright_pdq"], served_result["pdq"]) <= MATCH_DISTANCE


# --- digests ---------------------------------------------------------------------------------


def test_digests_equal_hashlib(selftest: Page, tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    sizes = {"one-byte.bin": 1, "small.txt": 1000, "video.mp4": 9 * 2**20 + 7}  # > 8 MiB chunk
    files = []
    for name, size in sizes.items():
        path = tmp_path / name
        path.write_bytes(rng.bytes(size))
        files.append(path)
    files.append(REFERENCE / "dih" / "bridge-1-original.jpg")
    for options in ({}, {"chunkBytes": 65536}):
        results = hash_in_page(selftest, files, options)
        for path, result in zip(files, results, strict=True):
            body = path.read_bytes()
            assert result["md5"] == hashlib.md5(body).hexdigest(), path.name
            assert result["sha256"] == hashlib.sha256(body).hexdigest(), path.name
    events = selftest.evaluate("() => window.selftest.events")
    chunks = [e for e in events if e["index"] == 2 and e["phase"] == "digest"]
    assert len(chunks) == -(-sizes["video.mp4"] // 65536)
    assert chunks[-1]["done"] == chunks[-1]["total"] == sizes["video.mp4"]
    assert [e["phase"] for e in events if e["index"] == 3][-2:] == ["decode", "done"]


def test_empty_file_is_refused(selftest: Page, tmp_path: Path) -> None:
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    (result,) = hash_in_page(selftest, [empty])
    assert result["reason"] == "empty"
    assert (result["md5"], result["sha256"], result["pdq"]) == (None, None, None)


# --- per-file errors -------------------------------------------------------------------------


def test_files_that_cannot_be_hashed_get_a_reason(
    selftest: Page, photo: Image.Image, tmp_path: Path
) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a picture\n")
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes((REFERENCE / "dih" / "bridge-1-original.jpg").read_bytes()[:60_000])
    big = tmp_path / "big.mp4"
    big.write_bytes(bytes(200_001))
    tiny = tmp_path / "tiny.png"
    photo.crop((0, 0, 4, 4)).save(tiny)
    heic = tmp_path / "photo.heic"
    photo.save(heic, format="HEIF")
    files = [text, truncated, big, tiny, heic, REFERENCE / "labelme-subset" / "q0003.jpg"]
    results = hash_in_page(selftest, files, {"maxBytes": 200_000})
    reasons = [(r["reason"], r["format"]) for r in results]
    assert reasons == [
        ("not_image", None),
        ("cannot_decode", "jpeg"),  # Pillow: "image file is truncated"
        ("too_large", None),
        ("too_small", "png"),
        ("cannot_decode", "heic"),  # Chromium has no HEIC decoder; `hashbank hash` does
        (None, "jpeg"),
    ]
    for path, result in zip(files, results, strict=True):
        if result["reason"] == "too_large":
            assert (result["md5"], result["sha256"]) == (None, None)
            continue
        assert result["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert result["pdq"] is None or path.name == "q0003.jpg"
    # Quality 3: hashed, but flagged unreliable (not to be submitted).
    assert (results[-1]["quality"], results[-1]["unreliable"]) == (3, True)
    assert hash_file(heic).pdq is not None


def test_image_over_the_pixel_limit_gets_digests_only(selftest: Page) -> None:
    path = REFERENCE / "labelme-subset" / "q0122.jpg"  # 256x256
    (result,) = hash_in_page(selftest, [path], {"maxImagePixels": 256 * 255})
    assert result["reason"] == "image_too_large"
    assert result["pdq"] is None
    assert result["md5"] == hashlib.md5(path.read_bytes()).hexdigest()


def test_image_file_over_the_image_byte_limit_gets_digests_only(selftest: Page) -> None:
    path = REFERENCE / "labelme-subset" / "q0122.jpg"
    (result,) = hash_in_page(selftest, [path], {"maxImageBytes": 1000})
    assert (result["reason"], result["pdq"]) == ("image_too_large", None)
    assert result["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


# --- nothing leaves the browser --------------------------------------------------------------


def test_hashing_sends_nothing_over_the_network(selftest: Page, tmp_path: Path) -> None:
    seen: list[str] = []

    def refuse(route: Route) -> None:
        seen.append(route.request.url)
        route.abort()

    def record(request: Request) -> None:
        seen.append(request.url)

    context = selftest.context
    context.route("**/*", refuse)
    context.on("request", record)
    # The watch itself works: a request the page makes is seen (and refused).
    selftest.evaluate("() => fetch('/v1/status').catch(() => null)")
    assert seen, "the request watch saw nothing"
    seen.clear()

    video = tmp_path / "clip.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(3 * 2**20))
    image = io.BytesIO()
    Image.new("RGB", (64, 48), "red").save(image, format="PNG")
    (tmp_path / "red.png").write_bytes(image.getvalue())
    files = [*REFERENCE_IMAGES[:5], REFERENCE / "te-resources" / "LA.png", video]
    results = hash_in_page(selftest, [*files, tmp_path / "red.png"])
    assert all(r["sha256"] for r in results)
    assert seen == []


def test_without_webgl_transparent_images_are_flagged_approximate(
    browser: Browser, web_node: NodeThread
) -> None:
    # Without WebGL only a 2D canvas can read the pixels, and it changes the colour of partly
    # transparent ones: the result says so instead of passing off a different hash as exact.
    # (--disable-webgl alone leaves WebGL on: the software rasterizer still provides it.)
    other = browser.browser_type.launch(
        executable_path=str(CHROMIUM), headless=True, args=[*CHROMIUM_ARGS, *NO_WEBGL]
    )
    try:
        page = other.new_page()
        page.set_default_timeout(PAGE_TIMEOUT_MS)
        page.goto(web_node.static_url("selftest.html") + "?driven")
        page.wait_for_function("() => document.getElementById('status').textContent === 'ready'")
        transparent = REFERENCE / "te-resources" / "LA.png"
        opaque = REFERENCE / "misc-images" / "modes" / "RGBA.png"  # alpha channel, all 255
        flagged, exact = hash_in_page(page, [transparent, opaque])
    finally:
        other.close()
    assert flagged["approximate"] is True
    python = hash_file(transparent)
    assert python.pdq is not None
    assert flagged["pdq"] != python.pdq.hex()
    assert distance(flagged["pdq"], python.pdq.hex()) <= MATCH_DISTANCE
    assert exact["approximate"] is False
    assert exact["pdq"] == expected(hash_file(opaque))["pdq"]
