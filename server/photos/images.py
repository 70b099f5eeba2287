"""Job photos checked and turned into the variants the apps show.

Every function here is synchronous, CPU-bound and pure (bytes in, frozen dataclasses out), so
a caller runs it off the event loop. Two depths of checking: :func:`peek_photo` is the door's
(the magic bytes, and the dimensions the header declares, read in well under a millisecond
without decoding a pixel), :func:`process_photo` the processor's (every pixel decoded, so a
truncated or corrupt photo shows there). Refusals are one exception, ``PhotoRejected``, with
the code and the HTTP status an upload answers with when the door can tell:

    415 unsupported_photo_type ... not JPEG, PNG, WebP or HEIC/HEIF (declared or actual)
    422 photo_type_mismatch ..... the bytes are another of those formats than declared
    422 photo_corrupt ........... truncated or undecodable
    422 photo_too_many_pixels ... over the pixel limit (a decompression bomb, or just too big)

Variants are WebP (and AVIF where this Pillow build has it), upright, and bare: no EXIF, no
XMP, no ICC profile. Pixels tagged with an ICC profile (iPhones write Display P3) are
converted to sRGB first, so the untagged variant shows the same colours in a browser.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import Literal, TypeVar

import pillow_heif
from PIL import ExifTags, Image, ImageCms, ImageFile, ImageOps, UnidentifiedImageError, features

from server.photos.evidence import PhotoEvidence, read_evidence

# Enough for 48 MP phone cameras; a 50 MP frame decodes to about 200 MB of RGBA.
MAX_PHOTO_PIXELS = 50_000_000
THUMB_SIDE = 320
DISPLAY_SIDE = 1280
WEBP_OPTIONS = {"quality": 80, "method": 4}
AVIF_OPTIONS = {"quality": 60, "speed": 8}
FORMAT_MEDIA_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
DECLARED_FORMATS = {
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/webp": "WEBP",
    "image/heic": "HEIF",
    "image/heif": "HEIF",
}
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "HEIF")
HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"})
MAGIC_BYTES = 12  # enough to tell every accepted format by its first bytes
# Orientations 5 to 8 turn the picture a quarter: its width is the stored height.
QUARTER_TURNS = frozenset({5, 6, 7, 8})
DECODE_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    RuntimeError,
    Image.DecompressionBombError,
)

VariantName = Literal["thumb", "display"]
T = TypeVar("T")


class PhotoRejected(Exception):
    """A photo refused before it is stored; ``code`` and ``status`` are the HTTP answer."""

    def __init__(self, code: str, detail: str, status: int) -> None:
        super().__init__(code, detail, status)  # all three in args, so it pickles across processes
        self.code = code
        self.detail = detail
        self.status = status


@dataclass(frozen=True, slots=True)
class PhotoFacts:
    """What an accepted upload is; width and height as it is shown (EXIF orientation applied)."""

    format: str
    media_type: str
    width: int
    height: int
    sha256: str


@dataclass(frozen=True, slots=True)
class PhotoVariant:
    name: VariantName
    media_type: str
    width: int
    height: int
    data: bytes
    sha256: str


@dataclass(frozen=True, slots=True)
class ProcessedPhoto:
    variants: tuple[PhotoVariant, ...]
    evidence: PhotoEvidence
    width: int = 0  # the original's, upright
    height: int = 0
    sha256: str = ""  # the original's


def peek_photo(data: bytes, declared_type: str, max_pixels: int = MAX_PHOTO_PIXELS) -> PhotoFacts:
    """The door's check, no pixel decoded: a supported format by its magic bytes, as declared,
    with a readable header whose dimensions are within the pixel limit. What only a full decode
    shows (a cut-off or corrupt stream) is left to :func:`process_photo`."""
    expected = _declared_format(declared_type)
    _check_magic(data[:MAGIC_BYTES], declared_type, expected)
    with _opened(data, max_pixels) as image:
        return _facts(image, data, expected)


def check_start(start: bytes, declared_type: str) -> None:
    """The first bytes of an object (at least MAGIC_BYTES of them) are of the declared type."""
    _check_magic(start[:MAGIC_BYTES], declared_type, _declared_format(declared_type))


def header_pixels(start: bytes) -> int | None:
    """Width × height as the header declares it, read from a photo's first bytes; None when
    they do not hold the whole header (an HEIC may keep it after the pixels)."""
    _register_heif()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(start), formats=ACCEPTED_FORMATS) as image:
                return image.width * image.height
        except (*DECODE_ERRORS, UnidentifiedImageError):
            return None


def inspect_photo(
    data: bytes, declared_type: str, max_pixels: int = MAX_PHOTO_PIXELS
) -> PhotoFacts:
    """Accept or refuse an upload: a supported format, as declared, within the pixel limit,
    and decodable to its last pixel (a cut-off upload fails here, not in processing)."""
    expected = _declared_format(declared_type)
    with _opened(data, max_pixels) as image:
        if image.format != expected:
            raise PhotoRejected(
                "photo_type_mismatch",
                f"declared {declared_type} but the bytes are {image.format}",
                422,
            )
        _decode(image.load)
        return _facts(image, data, expected)


def process_photo(
    data: bytes, max_pixels: int = MAX_PHOTO_PIXELS, declared_type: str | None = None
) -> ProcessedPhoto:
    """Evidence and bare, upright variants of a photo; the original bytes stay as they are.
    Every verdict the door could not give is given here (a ``declared_type`` is checked)."""
    with _opened(data, max_pixels) as image:
        if declared_type is not None and image.format != _declared_format(declared_type):
            raise PhotoRejected(
                "photo_type_mismatch",
                f"declared {declared_type} but the bytes are {image.format}",
                422,
            )
        evidence = _decode(lambda: read_evidence(image.getexif()))  # PNG may keep EXIF last
        width, height = _upright_size(image)
        display = _decode(lambda: _display_image(image))
    thumb = display.copy()
    thumb.thumbnail((THUMB_SIDE, THUMB_SIDE), Image.Resampling.LANCZOS)
    pictures: tuple[tuple[VariantName, Image.Image], ...] = (("thumb", thumb), ("display", display))
    variants = tuple(
        _encode(name, picture, file_format)
        for name, picture in pictures
        for file_format in variant_formats()
    )
    return ProcessedPhoto(
        variants=variants,
        evidence=evidence,
        width=width,
        height=height,
        sha256=hashlib.sha256(data).hexdigest(),
    )


def variant_formats() -> tuple[str, ...]:
    """WebP always; AVIF too when this Pillow was built with it."""
    return ("WEBP", "AVIF") if features.check("avif") else ("WEBP",)


@cache
def _register_heif() -> None:
    """Once per process (each pool worker too): pillow-heif's opener for HEIC/HEIF."""
    pillow_heif.register_heif_opener()


@contextmanager
def _opened(data: bytes, max_pixels: int) -> Iterator[ImageFile.ImageFile]:
    """The image with only its header read; Pillow's bomb warning raised as an error."""
    _register_heif()
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
        except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
            raise _too_many_pixels(str(exc)) from exc
        except UnidentifiedImageError as exc:
            raise _unidentified(data) from exc
        except DECODE_ERRORS as exc:
            raise PhotoRejected("photo_corrupt", f"the image cannot be read: {exc}", 422) from exc
        with image:
            if image.width * image.height > max_pixels:
                raise _too_many_pixels(f"{image.width}×{image.height} is over {max_pixels} pixels")
            yield image


def _decode(work: Callable[[], T]) -> T:
    """Run pixel work; a truncated or corrupt stream becomes a 422."""
    try:
        return work()
    except DECODE_ERRORS as exc:
        raise PhotoRejected(
            "photo_corrupt", f"the image is truncated or corrupt: {exc}", 422
        ) from exc


def _display_image(image: Image.Image) -> Image.Image:
    """Upright sRGB at most DISPLAY_SIDE on its longest side, never upscaled.

    Scaled before it is turned: the bound is square, so the result is the same as turning
    first, and a JPEG then decodes at the smallest DCT scale still at least display size
    (``reducing_gap=1``) before LANCZOS takes it the rest of the way: over twice as fast on
    12 MP as decoding every pixel."""
    if image.mode in ("1", "P", "PA", "I", "I;16", "F"):
        image = image.convert("RGBA" if image.has_transparency_data else "RGB")
    image.thumbnail((DISPLAY_SIDE, DISPLAY_SIDE), Image.Resampling.LANCZOS, reducing_gap=1.0)
    return _as_srgb(ImageOps.exif_transpose(image))


def _as_srgb(image: Image.Image) -> Image.Image:
    """RGB or RGBA pixels in sRGB; a broken or unusable ICC profile is taken to mean sRGB."""
    mode = "RGBA" if image.has_transparency_data else "RGB"
    profile = image.info.get("icc_profile")
    if profile:
        try:
            converted = ImageCms.profileToProfile(
                image, ImageCms.ImageCmsProfile(io.BytesIO(profile)), _srgb(), outputMode=mode
            )
        except (ImageCms.PyCMSError, OSError, ValueError):
            converted = None
        if converted is not None:
            return converted
    return image.convert(mode)


@cache
def _srgb() -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def _encode(name: VariantName, picture: Image.Image, file_format: str) -> PhotoVariant:
    """One variant, written from a copy of the pixels alone so no metadata can follow them."""
    bare = Image.new(picture.mode, picture.size)
    bare.paste(picture)
    buffer = io.BytesIO()
    bare.save(
        buffer, format=file_format, **(WEBP_OPTIONS if file_format == "WEBP" else AVIF_OPTIONS)
    )
    data = buffer.getvalue()
    return PhotoVariant(
        name=name,
        media_type=f"image/{file_format.lower()}",
        width=bare.width,
        height=bare.height,
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
    )


def _facts(image: ImageFile.ImageFile, data: bytes, expected: str) -> PhotoFacts:
    width, height = _upright_size(image)
    return PhotoFacts(
        format=(image.format or "").lower(),
        media_type=image.get_format_mimetype() or FORMAT_MEDIA_TYPES[expected],
        width=width,
        height=height,
        sha256=hashlib.sha256(data).hexdigest(),
    )


def _check_magic(start: bytes, declared_type: str, expected: str) -> None:
    """415 for bytes of no format we take, 422 for another of ours than declared."""
    actual = sniffed_format(start)
    if actual is None:
        if not start:
            raise PhotoRejected("photo_corrupt", "the upload was empty", 422)
        raise PhotoRejected("unsupported_photo_type", "not a JPEG, PNG, WebP or HEIC image", 415)
    if actual != expected:
        raise PhotoRejected(
            "photo_type_mismatch", f"declared {declared_type} but the bytes are {actual}", 422
        )


def sniffed_format(start: bytes) -> str | None:
    """The format the first bytes announce, of those we take; None for anything else."""
    if start.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if start.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if start[:4] == b"RIFF" and start[8:12] == b"WEBP":
        return "WEBP"
    if start[4:8] == b"ftyp" and start[8:12] in HEIF_BRANDS:
        return "HEIF"
    return None


def _upright_size(image: Image.Image) -> tuple[int, int]:
    orientation = image.getexif().get(ExifTags.Base.Orientation)
    return (image.height, image.width) if orientation in QUARTER_TURNS else image.size


def _declared_format(declared_type: str) -> str:
    media_type = declared_type.split(";", 1)[0].strip().lower()
    if media_type not in DECLARED_FORMATS:
        raise PhotoRejected(
            "unsupported_photo_type",
            f"{media_type or 'no type'} is not accepted; send JPEG, PNG, WebP or HEIC",
            415,
        )
    return DECLARED_FORMATS[media_type]


def _unidentified(data: bytes) -> PhotoRejected:
    """A file that starts like one of ours but cannot be opened is broken, not foreign."""
    if _starts_like_accepted_format(data):
        return PhotoRejected("photo_corrupt", "the image header is truncated or corrupt", 422)
    return PhotoRejected("unsupported_photo_type", "not a JPEG, PNG, WebP or HEIC image", 415)


def _starts_like_accepted_format(data: bytes) -> bool:
    return sniffed_format(data[:MAGIC_BYTES]) is not None


def _too_many_pixels(detail: str) -> PhotoRejected:
    return PhotoRejected("photo_too_many_pixels", detail, 422)
