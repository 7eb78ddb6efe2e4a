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


def heic(photo: Image.Image, path: Path, orientation: int) -> Path:
    """``photo`` as a HEIC file that shows it with ``orientation`` applied, as a phone writes it.

    pillow-heif needs the EXIF block as bytes to turn its orientation into the container's
    rotation and mirroring (given an ``Image.Exif`` it writes the tag alone).
    """
    exif = Image.Exif()
    exif[0x0112] = orientation
    photo.save(path, format="HEIF", quality=90, exif=exif.tobytes())
    return path


def test_heic_is_hashed(photo: Image.Image, tmp_path: Path) -> None:
    path = tmp_path / "photo.heic"
    photo.save(path, format="HEIF", quality=90)
    result = hash_file(path)
    assert result.note is None
    assert result.pdq is not None
    assert result.quality == 100
    # Lossy HEVC moves a few bits at most.
    assert distance(result.pdq, pdq_of_image(photo)[0]) <= 8


@pytest.mark.parametrize("orientation", range(2, 9))
def test_heic_with_an_orientation_gets_the_stored_and_the_upright_hash(
    photo: Image.Image, tmp_path: Path, orientation: int
) -> None:
    # pillow-heif stores the orientation as the container's rotation and mirroring, which
    # libheif applies on decoding, and as the EXIF tag (an iPhone's HEIC photos carry both).
    # The hasher undoes it for the stored view, so the photo gets the two hashes a JPEG tagged
    # with the same orientation gets: the stored pixels, and the picture as shown.
    path = heic(photo, tmp_path / "phone.heic", orientation)
    result = hash_file(path)
    assert result.orientation == orientation
    assert result.pdq is not None
    assert result.upright_pdq is not None
    with Image.open(path) as decoded:
        assert (result.upright_pdq, result.upright_quality) == pdq_of_image(decoded)
    # Lossy HEVC moves a few bits at most; the views are 100+ bits apart.
    as_jpeg = hash_file(tagged(photo, tmp_path / "phone.jpg", orientation, quality=95))
    assert as_jpeg.pdq is not None
    assert as_jpeg.upright_pdq is not None
    assert distance(result.pdq, as_jpeg.pdq) <= 8
    assert distance(result.upright_pdq, as_jpeg.upright_pdq) <= 8


def test_heic_without_an_orientation_has_one_hash(photo: Image.Image, tmp_path: Path) -> None:
    for orientation in (None, 1):
        path = tmp_path / f"plain-{orientation}.heic"
        if orientation is None:
            photo.save(path, format="HEIF", quality=90)
        else:
            heic(photo, path, orientation)
        result = hash_file(path)
        assert (result.orientation, result.upright_pdq) == (1, None)


def test_heic_cli_line(photo: Image.Image, tmp_path: Path) -> None:
    path = tmp_path / "photo.heif"
    photo.save(path, format="HEIF")
    rotated = heic(photo, tmp_path / "IMG_0001.HEIC", 6)
    done = run_cli("hash", str(path), str(rotated))
    assert done.returncode == 0, done.stderr
    plain, phone = (json.loads(line) for line in done.stdout.splitlines())
    assert plain["pdq"] is not None
    assert plain["note"] is None
    assert "upright_pdq" not in plain
    assert phone["orientation"] == 6
    assert phone["upright_pdq"] == hash_file(rotated).to_json()["upright_pdq"]
    # `submit -` and `import` publish both, as for a JPEG.
    assert [kind for kind, _ in hashes_in(phone, io.StringIO())] == ["pdq", "pdq", "md5", "sha256"]
