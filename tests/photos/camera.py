"""Camera-like photos made on the spot: a marked corner, EXIF orientation, capture time, GPS
and the metadata a variant must not carry (XMP, an ICC profile)."""

from __future__ import annotations

import io
import struct
import zlib

import pillow_heif
from PIL import ExifTags, Image, ImageCms, PngImagePlugin

MARK = (255, 0, 0)
BACKGROUND = (40, 90, 200)
TAKEN_AT = "2026:11:20 09:15:00"
# 13°45'36.0"N 100°30'5.4"E: central Bangkok.
LATITUDE, LONGITUDE = 13.76, 100.5015
XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
    b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/></x:xmpmeta>'
)
SAVE_FORMATS = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "HEIF": "image/heic",
}


def marked_picture(width: int, height: int) -> Image.Image:
    """A picture with a red block in its top-left corner, to see where that corner ends up."""
    picture = Image.new("RGB", (width, height), BACKGROUND)
    picture.paste(MARK, (0, 0, width // 8, height // 8))
    return picture


def camera_exif(orientation: int, offset: str | None = "+07:00") -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.Base.Make] = "TestCam"
    details = exif.get_ifd(ExifTags.IFD.Exif)
    details[ExifTags.Base.DateTimeOriginal] = TAKEN_AT
    if offset is not None:
        details[ExifTags.Base.OffsetTimeOriginal] = offset
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (13.0, 45.0, 36.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (100.0, 30.0, 5.4)
    return exif


def camera_photo(
    file_format: str,
    size: tuple[int, int] = (640, 480),
    orientation: int = 6,
    offset: str | None = "+07:00",
) -> bytes:
    """A photo as a phone would send it, with every kind of metadata a variant must drop."""
    pillow_heif.register_heif_opener()
    picture = marked_picture(*size)
    options: dict[str, object] = {
        "exif": camera_exif(orientation, offset).tobytes(),
        "icc_profile": ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes(),
        "quality": 95,
    }
    if file_format == "PNG":
        text = PngImagePlugin.PngInfo()
        text.add_itxt("XML:com.adobe.xmp", XMP.decode())
        options["pnginfo"] = text
    else:
        options["xmp"] = XMP
    buffer = io.BytesIO()
    picture.save(buffer, format=file_format, **options)
    return buffer.getvalue()


def plain_image(file_format: str, size: tuple[int, int] = (64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, BACKGROUND).save(buffer, format=file_format)
    return buffer.getvalue()


def png_claiming_size(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width``×``height``: a decompression bomb's shape."""
    data = bytearray(plain_image("PNG", (1, 1)))
    header = b"IHDR" + struct.pack(">II", width, height) + bytes(data[24:29])
    data[12:29] = header
    data[29:33] = struct.pack(">I", zlib.crc32(header))
    return bytes(data)
