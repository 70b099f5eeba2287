"""What a photo says about itself: when (EXIF capture time) and where (EXIF GPS) it was taken.

Evidence, not proof: a phone writes these tags and a person can edit them, so a value that
cannot be read exactly (a zero date, a division by zero, a missing hemisphere) is left out
rather than guessed. Works on any image Pillow or pillow-heif opens, HEIC included.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from PIL import ExifTags, Image

from server.core.inputs import in_range

# Cameras without an offset tag are taken to be on Bangkok time, where the teams work.
DEFAULT_CAPTURE_OFFSET = timezone(timedelta(hours=7))
EXIF_TIME_FORMAT = "%Y:%m:%d %H:%M:%S"
EXIF_OFFSET = re.compile(r"([+-])(\d{2}):(\d{2})")
LATEST_OFFSET = timedelta(hours=14)


@dataclass(frozen=True, slots=True)
class PhotoEvidence:
    """Capture time (aware, in the camera's offset) and position (decimal degrees, WGS 84)."""

    taken_at: datetime | None
    latitude: float | None
    longitude: float | None


def read_evidence(exif: Image.Exif) -> PhotoEvidence:
    position = gps_position(exif.get_ifd(ExifTags.IFD.GPSInfo))
    return PhotoEvidence(
        taken_at=capture_time(exif.get_ifd(ExifTags.IFD.Exif)),
        latitude=position[0] if position else None,
        longitude=position[1] if position else None,
    )


def capture_time(exif_ifd: Mapping[int, Any]) -> datetime | None:
    """``DateTimeOriginal`` in ``OffsetTimeOriginal``, or in +07:00 when the offset is absent."""
    local = _exif_text(exif_ifd.get(ExifTags.Base.DateTimeOriginal))
    try:
        naive = datetime.strptime(local, EXIF_TIME_FORMAT)
        return in_range(naive.replace(tzinfo=_offset(exif_ifd)))
    except ValueError:  # blank or zeroed dates ("0000:00:00 00:00:00") are common
        return None


def gps_position(gps_ifd: Mapping[int, Any]) -> tuple[float, float] | None:
    """(latitude, longitude), or None when either is missing, unreadable or the 0/0 of no fix."""
    latitude = _coordinate(
        gps_ifd.get(ExifTags.GPS.GPSLatitude), gps_ifd.get(ExifTags.GPS.GPSLatitudeRef), "NS", 90
    )
    longitude = _coordinate(
        gps_ifd.get(ExifTags.GPS.GPSLongitude), gps_ifd.get(ExifTags.GPS.GPSLongitudeRef), "EW", 180
    )
    if latitude is None or longitude is None or (latitude == 0 and longitude == 0):
        return None
    return latitude, longitude


def _offset(exif_ifd: Mapping[int, Any]) -> timezone:
    match = EXIF_OFFSET.fullmatch(_exif_text(exif_ifd.get(ExifTags.Base.OffsetTimeOriginal)))
    if not match:
        return DEFAULT_CAPTURE_OFFSET
    sign, hours, minutes = match.groups()
    offset = timedelta(hours=int(hours), minutes=int(minutes))
    if offset > LATEST_OFFSET or int(minutes) >= 60:
        return DEFAULT_CAPTURE_OFFSET
    return timezone(-offset if sign == "-" else offset)


def _coordinate(value: object, ref: object, hemispheres: str, limit: float) -> float | None:
    """Degrees from EXIF's (degrees, minutes, seconds) rationals; negative south and west."""
    parts = _numbers(value)
    hemisphere = _exif_text(ref).upper()
    if parts is None or hemisphere not in hemispheres or len(hemisphere) != 1:
        return None
    degrees = math.fsum(part / 60**index for index, part in enumerate(parts))
    if degrees > limit:
        return None
    return -degrees if hemisphere == hemispheres[1] else degrees


def _numbers(value: object) -> list[float] | None:
    """One to three finite, non-negative numbers (IFDRational with a zero denominator is NaN)."""
    items = value if isinstance(value, tuple | list) else (value,)
    try:
        parts = [float(item) for item in items]
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    if not 1 <= len(parts) <= 3 or not all(math.isfinite(p) and p >= 0 for p in parts):
        return None
    return parts


def _exif_text(value: object) -> str:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    return value.strip("\x00 ") if isinstance(value, str) else ""
