"""Objects as files under one directory (``var/photos`` by default): the embedded store."""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

from server.photos.storage.objects import InvalidObjectKey, checked_key


class LocalObjectStore:
    """Files under ``root``; each write lands whole (temp file, fsync, rename) or not at all.

    The content type is not kept: whoever serves a file names its type from the key. Every
    filesystem call, resolving the path included, runs in a thread, off the event loop.
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await asyncio.to_thread(self._write, key, data)

    async def get(self, key: str) -> bytes | None:
        return await asyncio.to_thread(self._read, key)

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(lambda: self._path(key).is_file())

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(lambda: self._path(key).unlink(missing_ok=True))

    async def download_url(self, key: str, seconds: int, cache_control: str) -> str | None:
        """None: the app serves local files itself."""
        return None

    async def close(self) -> None:
        return None

    def _path(self, key: str) -> Path:
        root = self.root.resolve()
        path = (root / checked_key(key)).resolve()
        if not path.is_relative_to(root):  # a symlink inside the root that points out of it
            raise InvalidObjectKey(f"object key leaves the store: {key!r}")
        return path

    def _write(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as temp:
                temp.write(data)
                temp.flush()
                os.fsync(temp.fileno())
            os.replace(temp_name, path)
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise

    def _read(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None
