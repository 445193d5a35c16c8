"""Streaming an original into S3 (SeaweedFS in the tests): multipart, never whole in memory."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from config.settings import Settings
from mailroom.infra.objects import open_object_store

MiB = 1024 * 1024


def test_s3_store_streams_a_file_in_parts_and_keeps_its_metadata(
    tmp_path: Path, s3_settings: dict[str, object]
) -> None:
    store = open_object_store(Settings(data_dir=tmp_path, **s3_settings))  # type: ignore[arg-type]
    source = tmp_path / "original.pdf"
    with source.open("wb") as fh:
        for _ in range(12):  # 12 MiB: more than the 5 MiB parts of a multipart upload
            fh.write(os.urandom(MiB))
    meta = {"scan-line": "scan-1", "source-name": "Antrag Müller.pdf"}

    stored = store.put_file("documents/abc/original.pdf", source, "application/pdf", meta)

    assert stored.size == source.stat().st_size
    back = store.get("documents/abc/original.pdf")
    assert hashlib.sha256(back).digest() == hashlib.sha256(source.read_bytes()).digest()
    info = store.stat("documents/abc/original.pdf")
    assert (info.size, info.content_type, info.metadata) == (stored.size, "application/pdf", meta)
