"""Fixtures shared by the photo tests."""

from tests.photos.moto import moto_endpoint

__all__ = ["moto_endpoint"]
