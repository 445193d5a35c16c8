"""The object store: filesystem (embedded) and S3 (SeaweedFS in tests, MinIO in production)."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.settings import Settings
from mailroom.core.errors import NotFound, UnsafePath
from mailroom.infra.objects import FilesystemObjectStore, ObjectStore, open_object_store


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
