"""Uploads checked, variants made upright and bare, evidence read: every format, every refusal."""

from __future__ import annotations

import io
import multiprocessing
import pickle
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest
from PIL import Image

from server.photos.images import (
    DISPLAY_SIDE,
    THUMB_SIDE,
    PhotoRejected,
    PhotoVariant,
    check_start,
    header_pixels,
    inspect_photo,
    peek_photo,
    process_photo,
    variant_formats,
)
from tests.photos.camera import (
    BACKGROUND,
    LATITUDE,
    LONGITUDE,
    MARK,
    SAVE_FORMATS,
    camera_photo,
    plain_image,
    png_claiming_size,
)

BANGKOK = timezone(timedelta(hours=7))
FORMATS = list(SAVE_FORMATS)


def close_to(colour: tuple[int, ...], expected: tuple[int, int, int]) -> bool:
    return all(abs(a - b) <= 40 for a, b in zip(colour[:3], expected, strict=True))


def reopened(variant: PhotoVariant) -> Image.Image:
    picture = Image.open(io.BytesIO(variant.data))
    picture.load()
    return picture


@pytest.mark.parametrize("file_format", FORMATS)
def test_inspect_accepts_each_format_and_reports_the_upright_size(file_format: str) -> None:
    data = camera_photo(file_format)
    facts = inspect_photo(data, SAVE_FORMATS[file_format])
    assert facts.format == ("heif" if file_format == "HEIF" else file_format.lower())
    assert facts.media_type == SAVE_FORMATS[file_format]
    assert (facts.width, facts.height) == (480, 640)  # wide as stored, tall as shown
    assert len(facts.sha256) == 64
    other = camera_photo(file_format, (600, 480))
    assert facts.sha256 != inspect_photo(other, facts.media_type).sha256


@pytest.mark.parametrize("file_format", FORMATS)
def test_variants_are_upright_with_the_marked_corner_turned(file_format: str) -> None:
    processed = process_photo(camera_photo(file_format, orientation=6))
    expected = {(name, fmt) for name in ("thumb", "display") for fmt in variant_formats()}
    assert {(v.name, v.media_type.split("/")[1].upper()) for v in processed.variants} == expected
    for variant in processed.variants:
        picture = reopened(variant).convert("RGB")
        assert picture.size == (variant.width, variant.height)
        assert picture.height > picture.width
        # Orientation 6 shows the stored top-left corner at the top right.
        assert close_to(picture.getpixel((picture.width - 3, 3)), MARK)  # type: ignore[arg-type]
        assert close_to(picture.getpixel((2, 2)), BACKGROUND)  # type: ignore[arg-type]


@pytest.mark.parametrize("file_format", FORMATS)
def test_variants_carry_no_metadata(file_format: str) -> None:
    for variant in process_photo(camera_photo(file_format)).variants:
        picture = reopened(variant)
        assert not picture.getexif()
        assert not {"exif", "xmp", "icc_profile", "XML:com.adobe.xmp"} & set(picture.info)
        assert b"TestCam" not in variant.data
        assert b"adobe:ns:meta" not in variant.data


def test_variant_sizes_bound_the_longest_side_and_never_upscale() -> None:
    big = process_photo(camera_photo("JPEG", (2600, 1950), orientation=1)).variants
    sizes = {(v.name, v.width, v.height) for v in big}
    assert sizes == {("thumb", THUMB_SIDE, 240), ("display", DISPLAY_SIDE, 960)}
    small = process_photo(camera_photo("PNG", (200, 150), orientation=1)).variants
    assert {(v.width, v.height) for v in small} == {(200, 150)}


def test_each_variant_names_its_own_bytes() -> None:
    variants = process_photo(camera_photo("JPEG")).variants
    assert len({v.sha256 for v in variants}) == len(variants)
    assert all(v.media_type in {"image/webp", "image/avif"} for v in variants)


@pytest.mark.parametrize("file_format", FORMATS)
def test_evidence_has_the_capture_time_and_position(file_format: str) -> None:
    evidence = process_photo(camera_photo(file_format)).evidence
    assert evidence.taken_at == datetime(2026, 11, 20, 9, 15, tzinfo=BANGKOK)
    assert evidence.taken_at is not None and evidence.taken_at.utcoffset() == timedelta(hours=7)
    assert evidence.latitude == pytest.approx(LATITUDE, abs=1e-6)
    assert evidence.longitude == pytest.approx(LONGITUDE, abs=1e-6)


@pytest.mark.parametrize(
    ("offset", "expected"),
    [
        (None, timedelta(hours=7)),
        ("-05:00", timedelta(hours=-5)),
        ("+05:45", timedelta(hours=5, minutes=45)),
        ("garbage", timedelta(hours=7)),
    ],
)
def test_capture_time_takes_the_camera_offset_or_bangkok(
    offset: str | None, expected: timedelta
) -> None:
    taken_at = process_photo(camera_photo("JPEG", offset=offset)).evidence.taken_at
    assert taken_at is not None
    assert taken_at.utcoffset() == expected
    assert taken_at.replace(tzinfo=None) == datetime(2026, 11, 20, 9, 15)


def test_a_photo_without_exif_has_no_evidence() -> None:
    evidence = process_photo(plain_image("JPEG")).evidence
    assert (evidence.taken_at, evidence.latitude, evidence.longitude) == (None, None, None)


def truncated(file_format: str) -> bytes:
    data = camera_photo(file_format, (800, 600))
    return data[: len(data) * 2 // 3]


BAD_UPLOADS = [
    pytest.param(
        b"hello, this is not a photo\n", "image/jpeg", "unsupported_photo_type", 415, id="text"
    ),
    pytest.param(b"hello", "text/plain", "unsupported_photo_type", 415, id="text-declared"),
    pytest.param(plain_image("GIF"), "image/gif", "unsupported_photo_type", 415, id="gif"),
    pytest.param(plain_image("GIF"), "image/png", "unsupported_photo_type", 415, id="gif-as-png"),
    pytest.param(plain_image("BMP"), "image/jpeg", "unsupported_photo_type", 415, id="bmp"),
    pytest.param(b"", "image/jpeg", "unsupported_photo_type", 415, id="empty"),
    pytest.param(truncated("JPEG"), "image/jpeg", "photo_corrupt", 422, id="truncated-jpeg"),
    pytest.param(truncated("PNG"), "image/png", "photo_corrupt", 422, id="truncated-png"),
    pytest.param(truncated("HEIF"), "image/heic", "photo_corrupt", 422, id="truncated-heic"),
    pytest.param(plain_image("JPEG")[:20], "image/jpeg", "photo_corrupt", 422, id="jpeg-header"),
    pytest.param(plain_image("PNG"), "image/jpeg", "photo_type_mismatch", 422, id="png-as-jpeg"),
    pytest.param(plain_image("JPEG"), "image/heic", "photo_type_mismatch", 422, id="jpeg-as-heic"),
    pytest.param(
        png_claiming_size(8000, 7000),
        "image/png",
        "photo_too_many_pixels",
        422,
        id="over-our-limit",
    ),
    pytest.param(
        png_claiming_size(10_000, 10_000),
        "image/png",
        "photo_too_many_pixels",
        422,
        id="pillow-bomb-warning",
    ),
    pytest.param(
        png_claiming_size(30_000, 30_000),
        "image/png",
        "photo_too_many_pixels",
        422,
        id="pillow-bomb-error",
    ),
]


@pytest.mark.parametrize(("data", "declared", "code", "status"), BAD_UPLOADS)
def test_bad_uploads_are_refused_with_their_code(
    data: bytes, declared: str, code: str, status: int
) -> None:
    with pytest.raises(PhotoRejected) as refused:
        inspect_photo(data, declared)
    assert (refused.value.code, refused.value.status) == (code, status)
    assert refused.value.detail


def test_processing_refuses_what_inspection_refuses() -> None:
    with pytest.raises(PhotoRejected) as refused:
        process_photo(png_claiming_size(30_000, 30_000))
    assert refused.value.code == "photo_too_many_pixels"
    with pytest.raises(PhotoRejected) as refused:
        process_photo(truncated("JPEG"))
    assert refused.value.code == "photo_corrupt"


def test_the_pixel_limit_can_be_lowered() -> None:
    data = camera_photo("JPEG", (640, 480))
    with pytest.raises(PhotoRejected) as refused:
        inspect_photo(data, "image/jpeg", max_pixels=640 * 480 - 1)
    assert refused.value.code == "photo_too_many_pixels"
    assert inspect_photo(data, "image/jpeg", max_pixels=640 * 480).width == 480


def test_pillow_bomb_warning_is_an_error_even_under_a_higher_limit() -> None:
    with pytest.raises(PhotoRejected) as refused:
        inspect_photo(png_claiming_size(10_000, 10_000), "image/png", max_pixels=10**9)
    assert refused.value.code == "photo_too_many_pixels"


def test_declared_type_parameters_and_case_are_ignored() -> None:
    assert inspect_photo(plain_image("PNG"), "Image/PNG; charset=binary").format == "png"


def test_refusals_cross_process_boundaries_intact() -> None:
    copy = pickle.loads(pickle.dumps(PhotoRejected("photo_corrupt", "cut off", 422)))
    assert (copy.code, copy.detail, copy.status) == ("photo_corrupt", "cut off", 422)


def test_processing_runs_in_a_process_pool() -> None:
    data = camera_photo("HEIF")
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        processed = pool.submit(process_photo, data).result(timeout=60)
        with pytest.raises(PhotoRejected) as refused:
            pool.submit(inspect_photo, b"not a photo", "image/heic").result(timeout=60)
    assert processed == process_photo(data)
    assert refused.value.status == 415


DOOR_CANNOT_TELL = {"truncated-jpeg", "truncated-png", "truncated-heic", "empty"}


@pytest.mark.parametrize(
    ("data", "declared", "code", "status"),
    [case for case in BAD_UPLOADS if case.id not in DOOR_CANNOT_TELL],
)
def test_the_door_refuses_what_the_first_bytes_and_the_header_show(
    data: bytes, declared: str, code: str, status: int
) -> None:
    with pytest.raises(PhotoRejected) as refused:
        peek_photo(data, declared)
    assert (refused.value.code, refused.value.status) == (code, status)


@pytest.mark.parametrize("file_format", ["JPEG", "PNG", "HEIF"])
def test_a_cut_off_photo_passes_the_door_and_processing_refuses_it(file_format: str) -> None:
    declared = SAVE_FORMATS[file_format]
    facts = peek_photo(truncated(file_format), declared)
    assert (facts.width, facts.height) == (600, 800), "the header's size, upright"
    with pytest.raises(PhotoRejected) as refused:
        process_photo(truncated(file_format), declared_type=declared)
    assert refused.value.code == "photo_corrupt"


def test_an_empty_upload_is_corrupt_at_the_door() -> None:
    with pytest.raises(PhotoRejected) as refused:
        peek_photo(b"", "image/jpeg")
    assert (refused.value.code, refused.value.status) == ("photo_corrupt", 422)


def test_processing_checks_the_declared_type_too() -> None:
    with pytest.raises(PhotoRejected) as refused:
        process_photo(plain_image("PNG"), declared_type="image/jpeg")
    assert refused.value.code == "photo_type_mismatch"


def test_an_objects_first_bytes_tell_its_type_and_often_its_size() -> None:
    start = camera_photo("JPEG", (800, 600))[:65_536]
    check_start(start, "image/jpeg")
    assert header_pixels(start) == 800 * 600
    assert header_pixels(b"\xff\xd8\xff") is None
    with pytest.raises(PhotoRejected) as refused:
        check_start(b"%PDF-1.7 and so on", "image/jpeg")
    assert refused.value.status == 415
