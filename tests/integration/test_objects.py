"""The object store: filesystem (embedded) and S3 (SeaweedFS in tests, MinIO in production)."""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path

import pytest

from config.settings import Settings
from mailroom.core.errors import NotFound, StorageUnavailable, UnsafePath
from mailroom.infra.objects import FilesystemObjectStore, ObjectStore, open_object_store

MiB = 1024 * 1024


def _roundtrip(store: ObjectStore) -> None:
    meta = {"department": "51", "fileplan-unit": "51.20", "case": "51.20-0042/2021 Müller"}
    store.put("documents/abc/text.txt", "Grüße".encode(), "text/plain", meta)
    assert store.get("documents/abc/text.txt").decode() == "Grüße"
    info = store.stat("documents/abc/text.txt")
    assert info.metadata == meta
    assert info.content_type.startswith("text/plain")
    assert list(store.list("documents/abc/")) == ["documents/abc/text.txt"]
    store.put("documents/abc/text.txt", b"v2")  # overwrite = idempotent reprocessing
    assert store.get("documents/abc/text.txt") == b"v2"
    store.delete("documents/abc/text.txt")
    assert not store.exists("documents/abc/text.txt")
    with pytest.raises(NotFound):
        store.get("documents/abc/text.txt")


def test_filesystem_store_round_trip(tmp_path: Path) -> None:
    _roundtrip(FilesystemObjectStore(tmp_path / "objects"))


@pytest.mark.parametrize("key", ["../escape", "/abs", "a/../../b", "a\\b", ""])
def test_filesystem_store_refuses_keys_that_escape(tmp_path: Path, key: str) -> None:
    store = FilesystemObjectStore(tmp_path / "objects")
    with pytest.raises(UnsafePath):
        store.put(key, b"x")


@pytest.mark.integration
def test_s3_store_round_trip(tmp_path: Path, s3_settings: dict[str, object]) -> None:
    store = open_object_store(Settings(data_dir=tmp_path, **s3_settings))  # type: ignore[arg-type]
    _roundtrip(store)


def _streams_out(store: ObjectStore, tmp_path: Path) -> None:
    """An original streamed out to a file: whole, its size told, never whole in memory."""
    source = tmp_path / "original.tif"
    source.write_bytes(os.urandom(12 * MiB + 123))
    key = "originals/ab/" + "ab" * 32 + ".tif"
    store.put_file(key, source, "image/tiff", {"source-name": "Brief März.tif"})
    target = tmp_path / "worker-copy.tif"

    tracemalloc.start()
    try:
        size = store.get_file(key, target)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert size == source.stat().st_size == target.stat().st_size
    assert target.read_bytes() == source.read_bytes()
    assert peak < 4 * MiB, f"get_file held {peak / MiB:.1f} MiB of a 12 MiB object"
    with pytest.raises(NotFound):
        store.get_file("originals/ab/missing.tif", tmp_path / "missing.tif")
    with pytest.raises(UnsafePath):
        store.get_file("../escape", tmp_path / "escape")
    with pytest.raises(StorageUnavailable):  # the worker's spool folder is gone
        store.get_file(key, tmp_path / "no-such-folder" / "copy.tif")


def test_filesystem_store_streams_an_object_out_to_a_file(tmp_path: Path) -> None:
    _streams_out(FilesystemObjectStore(tmp_path / "objects"), tmp_path)


@pytest.mark.integration
def test_s3_store_streams_an_object_out_to_a_file(
    tmp_path: Path, s3_settings: dict[str, object]
) -> None:
    store = open_object_store(Settings(data_dir=tmp_path, **s3_settings))  # type: ignore[arg-type]
    _streams_out(store, tmp_path)
