"""The object store: one interface, an S3 implementation (minio SDK) and a filesystem one.

Both keep the same key layout (originals by content, :func:`original_key`; the worker's
products by document, :func:`document_key`), so a filesystem store can be copied into a
bucket one to one. Writes are atomic on both: S3 PUT is, and the filesystem store writes a
temp file and renames it. :meth:`ObjectStore.put_file` streams a file in (multipart on S3,
a chunked copy on the filesystem); :meth:`ObjectStore.open_stream` opens an object to be
read in chunks (:mod:`mailroom.infra.object_stream`), which :meth:`ObjectStore.get_file`
copies into a file: an original of any size never has to be held in memory.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Protocol, TypeAlias
from urllib.parse import quote, unquote

from config.settings import Settings
from mailroom.core.errors import ConfigurationError, NotFound, StorageUnavailable, UnsafePath
from mailroom.infra.object_stream import CHUNK as _CHUNK
from mailroom.infra.object_stream import ObjectStream

OCTET_STREAM = "application/octet-stream"
#: User metadata of an object (S3 ``x-amz-meta-*``): ASCII keys, any text as values.
Metadata: TypeAlias = Mapping[str, str] | None


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    content_type: str
    metadata: dict[str, str] = field(default_factory=dict)


class ObjectStore(Protocol):
    """What the pipeline and the web need from an S3-like store."""

    def put(
        self, key: str, data: bytes, content_type: str = OCTET_STREAM, metadata: Metadata = None
    ) -> StoredObject: ...

    def put_file(
        self, key: str, path: Path, content_type: str = OCTET_STREAM, metadata: Metadata = None
    ) -> StoredObject:
        """Store the file at ``path`` without reading it into memory (streamed)."""
        ...

    def get(self, key: str) -> bytes: ...

    def get_file(self, key: str, path: Path) -> int:
        """Write the object to ``path`` in chunks (streamed); its size. Errors as :meth:`get`;
        after one, ``path`` may hold a part (the caller removes it)."""
        ...

    def open_stream(self, key: str) -> ObjectStream:
        """The object opened to be read in chunks (streamed; close it if not read to the
        end). Errors as :meth:`get`; a missing object raises before any byte is read."""
        ...

    def stat(self, key: str) -> StoredObject: ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None: ...

    def list(self, prefix: str = "") -> Iterator[str]: ...

    def describe(self) -> str: ...


def document_key(document_id: str, name: str) -> str:
    """``documents/<id>/<name>``: the worker's products of one document under one prefix."""
    return f"documents/{document_id}/{name}"


def original_key(sha256: str, extension: str) -> str:
    """``originals/<sha[:2]>/<sha256>.<ext>``: an original under the hash of its bytes.

    The same bytes always get the same key: storing an original again after an interrupted
    intake overwrites the first upload instead of orphaning it, and a duplicate (Dublette)
    shares its original's object. Several document rows may therefore point at one object.
    Rows registered before keep their ``documents/<id>/original.<ext>``: readers take the
    key from the row, never from the document's id.
    """
    if not re.fullmatch(r"[0-9a-f]{64}", sha256) or not extension.isalnum():
        raise ValueError(f"not a SHA-256 and an extension: {sha256!r}, {extension!r}")
    return f"originals/{sha256[:2]}/{sha256}.{extension}"


def check_key(key: str) -> str:
    """Refuse keys that could leave the store's root on a filesystem."""
    path = PurePosixPath(key)
    if not key or path.is_absolute() or ".." in path.parts or "\\" in key or "\x00" in key:
        raise UnsafePath(f"object key {key!r} is not a safe relative path")
    return key


def _encode_meta(metadata: Metadata) -> dict[str, str]:
    # S3 user metadata travels in HTTP headers: ASCII only, so percent-encode values.
    return {k: quote(str(v), safe=" ./-_:,;()@") for k, v in (metadata or {}).items()}


def _decode_meta(metadata: Mapping[str, str]) -> dict[str, str]:
    return {k: unquote(v) for k, v in metadata.items()}


class FilesystemObjectStore:
    """Objects as files below ``root``; metadata in a ``.meta`` sidecar next to each."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put(
        self, key: str, data: bytes, content_type: str = OCTET_STREAM, metadata: Metadata = None
    ) -> StoredObject:
        return self._write(key, content_type, metadata, lambda target: _atomic_write(target, data))

    def put_file(
        self, key: str, path: Path, content_type: str = OCTET_STREAM, metadata: Metadata = None
    ) -> StoredObject:
        def copy(target: Path) -> None:
            with path.open("rb") as source:
                _atomic_copy(source, target)

        return self._write(key, content_type, metadata, copy)

    def _write(
        self, key: str, content_type: str, metadata: Metadata, write_body: Callable[[Path], None]
    ) -> StoredObject:
        """Write the ``.meta`` sidecar, then the body, both atomically."""
        target = self._path(key)
        meta = {"content_type": content_type, "metadata": _encode_meta(metadata)}
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            _atomic_write(target.with_name(target.name + ".meta"), json.dumps(meta).encode())
            write_body(target)
            size = target.stat().st_size
        except OSError as exc:
            raise StorageUnavailable(f"cannot write {target}: {exc.strerror}") from exc
        return StoredObject(key, size, content_type, dict(metadata or {}))

    def get(self, key: str) -> bytes:
        with _reading(key):
            return self._path(key).read_bytes()

    def get_file(self, key: str, path: Path) -> int:
        return self.open_stream(key).write_to(path)

    def open_stream(self, key: str) -> ObjectStream:
        with _reading(key):
            source = self._path(key).open("rb")
        return ObjectStream(key, source, os.fstat(source.fileno()).st_size, source.close)

    def stat(self, key: str) -> StoredObject:
        path = self._path(key)
        if not path.is_file():
            raise NotFound(f"object {key!r} not found")
        meta_path = path.with_name(path.name + ".meta")
        meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
        return StoredObject(
            key,
            path.stat().st_size,
            meta.get("content_type", OCTET_STREAM),
            _decode_meta(meta.get("metadata", {})),
        )

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        path = self._path(key)
        path.unlink(missing_ok=True)
        path.with_name(path.name + ".meta").unlink(missing_ok=True)

    def list(self, prefix: str = "") -> Iterator[str]:
        for path in sorted(self.root.rglob("*")):
            if path.is_file() and not path.name.endswith((".meta", ".tmp")):
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    yield key

    def describe(self) -> str:
        return f"file://{self.root}"


@contextmanager
def _reading(key: str) -> Iterator[None]:
    """A missing file is :class:`NotFound`, any other read error :class:`StorageUnavailable`."""
    try:
        yield
    except FileNotFoundError:
        raise NotFound(f"object {key!r} not found") from None
    except OSError as exc:
        raise StorageUnavailable(f"cannot read {key!r}: {exc.strerror}") from exc


def _atomic_write(path: Path, data: bytes) -> None:
    _atomic_copy(io.BytesIO(data), path)


def _atomic_copy(source: BinaryIO, path: Path) -> int:
    """Copy ``source`` in chunks to a temp file beside ``path``, fsync, rename; the size."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            shutil.copyfileobj(source, fh, _CHUNK)
            size = fh.tell()
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return size


class S3ObjectStore:
    """An S3 bucket (MinIO in production, SeaweedFS in the tests) through the minio SDK."""

    def __init__(
        self,
        endpoint: str,
        access_key: str | None,
        secret_key: str | None,
        bucket: str,
        *,
        secure: bool = False,
        region: str | None = None,
    ) -> None:
        from minio import Minio
        from urllib3 import PoolManager, Retry, Timeout

        self.bucket = bucket
        self.endpoint = endpoint
        http = PoolManager(
            timeout=Timeout(connect=5, read=60),
            retries=Retry(total=3, backoff_factor=0.3, status_forcelist=(500, 502, 503, 504)),
            maxsize=10,
        )
        self.client = Minio(
            endpoint.removeprefix("http://").removeprefix("https://"),
            access_key=access_key,
            secret_key=secret_key,
            secure=secure or endpoint.startswith("https://"),
            region=region,
            http_client=http,
        )

    def ensure_bucket(self) -> None:
        """Create the bucket if it is missing (``mailroom db upgrade`` and start-up)."""
        try:
            if not self.client.bucket_exists(self.bucket):
                self.client.make_bucket(self.bucket)
        except Exception as exc:
            raise _s3_error(exc, f"bucket {self.bucket!r}") from exc

    def put(
        self, key: str, data: bytes, content_type: str = OCTET_STREAM, metadata: Metadata = None
    ) -> StoredObject:
        try:
            self.client.put_object(
                self.bucket,
                check_key(key),
                io.BytesIO(data),
                len(data),
                content_type=content_type,
                metadata=_encode_meta(metadata),  # type: ignore[arg-type]
            )
        except Exception as exc:
            raise _s3_error(exc, key) from exc
        return StoredObject(key, len(data), content_type, dict(metadata or {}))

    def put_file(
        self, key: str, path: Path, content_type: str = OCTET_STREAM, metadata: Metadata = None
    ) -> StoredObject:
        # fput_object streams the file, in multipart parts of at least 5 MiB if it is large.
        try:
            size = path.stat().st_size
            self.client.fput_object(
                self.bucket,
                check_key(key),
                str(path),
                content_type=content_type,
                metadata=_encode_meta(metadata),  # type: ignore[arg-type]
            )
        except Exception as exc:
            raise _s3_error(exc, key) from exc
        return StoredObject(key, size, content_type, dict(metadata or {}))

    def get(self, key: str) -> bytes:
        return b"".join(self.open_stream(key))

    def get_file(self, key: str, path: Path) -> int:
        return self.open_stream(key).write_to(path)

    def open_stream(self, key: str) -> ObjectStream:
        try:
            response = self.client.get_object(self.bucket, check_key(key))
        except Exception as exc:
            raise _s3_error(exc, key) from exc
        length = response.headers.get("Content-Length")

        def release() -> None:  # the connection goes back to the pool
            response.close()
            response.release_conn()

        return ObjectStream(key, response, int(length) if length else None, release)

    def stat(self, key: str) -> StoredObject:
        try:
            st = self.client.stat_object(self.bucket, check_key(key))
        except Exception as exc:
            raise _s3_error(exc, key) from exc
        meta = {
            k.lower().removeprefix("x-amz-meta-"): v
            for k, v in (st.metadata or {}).items()
            if k.lower().startswith("x-amz-meta-")
        }
        return StoredObject(key, st.size or 0, st.content_type or OCTET_STREAM, _decode_meta(meta))

    def exists(self, key: str) -> bool:
        try:
            self.stat(key)
        except NotFound:
            return False
        return True

    def delete(self, key: str) -> None:
        try:
            self.client.remove_object(self.bucket, check_key(key))
        except Exception as exc:
            raise _s3_error(exc, key) from exc

    def list(self, prefix: str = "") -> Iterator[str]:
        try:
            for obj in self.client.list_objects(self.bucket, prefix=prefix, recursive=True):
                if obj.object_name:
                    yield obj.object_name
        except Exception as exc:
            raise _s3_error(exc, prefix) from exc

    def describe(self) -> str:
        return f"s3://{self.endpoint}/{self.bucket}"


def _s3_error(exc: Exception, what: str) -> Exception:
    from minio.error import S3Error

    if isinstance(exc, S3Error):
        if exc.code in ("NoSuchKey", "NoSuchObject", "ResourceNotFound"):
            return NotFound(f"object {what!r} not found")
        if exc.code in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
            return ConfigurationError(
                f"S3 refused access to {what!r} ({exc.code})",
                hint="check MAILROOM_S3_ACCESS_KEY and MAILROOM_S3_SECRET_KEY",
            )
        if exc.code == "NoSuchBucket":
            return ConfigurationError(
                f"S3 bucket missing for {what!r}", hint="run 'mailroom db upgrade' to create it"
            )
    if isinstance(exc, NotFound | UnsafePath):
        return exc
    return StorageUnavailable(f"S3 error on {what!r}: {exc}")


def open_object_store(settings: Settings) -> ObjectStore:
    """The configured store: S3 when ``MAILROOM_S3_ENDPOINT`` is set, else the filesystem."""
    if settings.s3_endpoint:
        secret = settings.s3_secret_key.get_secret_value() if settings.s3_secret_key else None
        store = S3ObjectStore(
            settings.s3_endpoint,
            settings.s3_access_key,
            secret,
            settings.s3_bucket,
            secure=settings.s3_secure,
            region=settings.s3_region,
        )
        store.ensure_bucket()
        return store
    return FilesystemObjectStore(settings.objects_dir)
