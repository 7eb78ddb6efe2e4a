"""The upright hash of EXIF-rotated images, and HEIC/HEIF through pillow-heif."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image, ImageOps

from node.cli.importer import hashes_in
from node.hashing.imaging import orientation_of
from node.hashing.pdq import hash_file, pdq_of_image
from tests.nodes import run_cli

DATA = Path(__file__).resolve().parents[2] / "data" / "pdq"
MATCH_DISTANCE = 31


def distance(a: bytes, b: bytes) -> int:
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).bit_count()


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    with Image.open(DATA / "original.jpg") as image:
        return image.crop((0, 0, 900, 600))


def tagged(photo: Image.Image, path: Path, orientation: int, **options: object) -> Path:
    exif = Image.Exif()
    exif[0x0112] = orientation
    photo.save(path, exif=exif, **options)
    return path


@pytest.mark.parametrize("orientation", range(2, 9))
@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp"])
def test_upright_hash_is_the_hash_of_the_transposed_image(
    photo: Image.Image, tmp_path: Path, orientation: int, suffix: str
) -> None:
    path = tagged(photo, tmp_path / f"photo{suffix}", orientation)
    result = hash_file(path)
    with Image.open(path) as image:
        stored = pdq_of_image(image)
        shown = pdq_of_image(ImageOps.exif_transpose(image))
    assert (result.pdq, result.quality) == stored
    assert (result.upright_pdq, result.upright_quality) == shown
    assert result.orientation == orientation
    assert result.upright_unreliable is False


def test_no_upright_hash_without_a_rotation(photo: Image.Image, tmp_path: Path) -> None:
    plain = tmp_path / "plain.jpg"
    photo.save(plain)
    one = tagged(photo, tmp_path / "one.jpg", 1)
    for path in (plain, one):
        result = hash_file(path)
        assert (result.orientation, result.upright_pdq, result.upright_quality) == (1, None, None)
        assert "upright_pdq" not in result.to_json()


def test_unknown_or_damaged_orientation_is_ignored(photo: Image.Image, tmp_path: Path) -> None:
    path = tagged(photo, tmp_path / "odd.jpg", 9)
    assert hash_file(path).upright_pdq is None
    image = Image.new("RGB", (8, 8))
    image.info["exif"] = b"Exif\x00\x00II*\x00\xff\xff\xff\xff"  # IFD offset past the end
    assert orientation_of(image) == 1


def test_xmp_orientation_alone_is_not_followed(photo: Image.Image, tmp_path: Path) -> None:
    # Pillow's getexif() falls back to XMP; browsers do not, so neither does the hasher.
    xmp = b'<x:xmpmeta><rdf:Description tiff:Orientation="6"/></x:xmpmeta>'
    path = tmp_path / "xmp.jpg"
    photo.save(path, xmp=xmp)
    with Image.open(path) as image:
        assert image.getexif().get(0x0112) == 6
    assert hash_file(path).upright_pdq is None


def test_json_line_carries_the_upright_hash(photo: Image.Image, tmp_path: Path) -> None:
    path = tagged(photo, tmp_path / "phone.jpg", 6)
    doc = hash_file(path).to_json()
    assert list(doc) == [
        *("file", "md5", "sha256", "pdq", "quality", "unreliable", "note"),
        *("orientation", "upright_pdq", "upright_quality", "upright_unreliable"),
    ]
    assert doc["orientation"] == 6
    assert isinstance(doc["upright_pdq"], str)
    assert len(doc["upright_pdq"]) == 64


def test_hashbank_hash_prints_and_submit_reads_the_upright_hash(
    photo: Image.Image, tmp_path: Path
) -> None:
    path = tagged(photo, tmp_path / "phone.jpg", 6)
    done = run_cli("hash", str(path))
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["upright_pdq"] == hash_file(path).to_json()["upright_pdq"]
    kinds = hashes_in(doc, io.StringIO())
    assert kinds == [
        ("pdq", doc["pdq"]),
        ("pdq", doc["upright_pdq"]),
        ("md5", doc["md5"]),
        ("sha256", doc["sha256"]),
    ]


def test_an_unreliable_upright_hash_is_skipped_with_a_note() -> None:
    doc = {
        "file": "flat.jpg",
        "md5": "aa",
        "sha256": "bb",
        "pdq": "11",
        "quality": 60,
        "unreliable": False,
        "upright_pdq": "22",
        "upright_quality": 40,
        "upright_unreliable": True,
    }
    notes = io.StringIO()
    assert hashes_in(doc, notes) == [("pdq", "11"), ("md5", "aa"), ("sha256", "bb")]
    assert "upright PDQ quality 40 is below 50" in notes.getvalue()


# --- HEIC / HEIF -----------------------------------------------------------------------------


def test_heic_is_hashed(photo: Image.Image, tmp_path: Path) -> None:
    path = tmp_path / "photo.heic"
    photo.save(path, format="HEIF", quality=90)
    result = hash_file(path)
    assert result.note is None
    assert result.pdq is not None
    assert result.quality == 100
    # Lossy HEVC moves a few bits at most.
    assert distance(result.pdq, pdq_of_image(photo)[0]) <= 8


def test_heic_rotation_is_applied_by_the_decoder_once(photo: Image.Image, tmp_path: Path) -> None:
    # pillow-heif writes the orientation as the container's rotation, which libheif applies on
    # decoding (and resets the EXIF tag to 1): the decoded photo is upright, with one hash.
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "phone.heic"
    photo.save(path, format="HEIF", quality=90, exif=exif.tobytes())
    result = hash_file(path)
    assert result.pdq is not None
    assert result.upright_pdq is None
    shown = pdq_of_image(photo.transpose(Image.Transpose.ROTATE_270))[0]
    assert distance(result.pdq, shown) <= 8


def test_heic_cli_line(photo: Image.Image, tmp_path: Path) -> None:
    path = tmp_path / "photo.heif"
    photo.save(path, format="HEIF")
    done = run_cli("hash", str(path))
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["pdq"] is not None
    assert doc["note"] is None
