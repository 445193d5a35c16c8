"""An object of the store opened for reading, read in chunks as it is consumed.

Both object stores open one (:meth:`mailroom.infra.objects.ObjectStore.open_stream`): the
web application streams an original of any size to the browser from it, and ``get_file``
copies it into a file, so an original is never held whole in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol

from mailroom.core.errors import StorageUnavailable

#: Bytes read at a time.
CHUNK = 1024 * 1024


class Readable(Protocol):
    """A file opened for reading, or an HTTP response's body."""

    def read(self, size: int, /) -> bytes: ...


class ObjectStream:
    """An opened object: iterating it yields its bytes in chunks of up to :data:`CHUNK`.

    ``size`` is the object's length if the store tells it (None otherwise). Reading to the
    end closes the stream, and so does :meth:`close`, which whoever stops early must call:
    it releases the file or the store's connection. A failed read raises
    :class:`~mailroom.core.errors.StorageUnavailable`.
    """

    def __init__(
        self, key: str, body: Readable, size: int | None, release: Callable[[], None]
    ) -> None:
        self.key = key
        self.size = size
        self._body = body
        self._release = release
        self._closed = False

    def __iter__(self) -> Iterator[bytes]:
        try:
            while chunk := self._read():
                yield chunk
        finally:
            self.close()

    def _read(self) -> bytes:
        try:
            return self._body.read(CHUNK)
        except Exception as exc:  # a broken connection, a failing disk
            raise StorageUnavailable(f"cannot read {self.key!r}: {exc}") from exc

    def close(self) -> None:
        """Release the file or the connection (once; a second call does nothing)."""
        if not self._closed:
            self._closed = True
            self._release()

    def write_to(self, path: Path) -> int:
        """Write the object to ``path`` chunk by chunk and close the stream; the size."""
        try:
            with path.open("wb") as target:
                for chunk in self:
                    target.write(chunk)
                return target.tell()
        except OSError as exc:
            raise StorageUnavailable(f"cannot copy {self.key!r} to {path}: {exc}") from exc
        finally:
            self.close()
