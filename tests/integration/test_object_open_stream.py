"""Objects opened for streaming (``open_stream``): on the filesystem and on S3 (SeaweedFS),
and an original downloaded through the web application from S3, chunk by chunk."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from config.settings import Settings
from mailroom.core.errors import NotFound
from mailroom.infra.db.models import Document
from mailroom.infra.object_stream import CHUNK
from mailroom.infra.objects import FilesystemObjectStore, ObjectStore, open_object_store
from mailroom.runtime.context import AppContext
from mailroom.web.app import create_app
from tests.conftest import make_settings
from tests.factories import make_document
from tests.web_helpers import seed_users, token_client

MiB = 1024 * 1024
KEY = "originals/cd/" + "cd" * 32 + ".pdf"


def _opens_and_streams(store: ObjectStore, tmp_path: Path) -> None:
    data = os.urandom(5 * MiB + 17)
    source = tmp_path / "scan.pdf"
    source.write_bytes(data)
    store.put_file(KEY, source, "application/pdf")

    stream = store.open_stream(KEY)
    chunks = list(stream)

    assert stream.size == len(data) and b"".join(chunks) == data
    assert max(len(c) for c in chunks) <= CHUNK and len(chunks) >= 6
    with pytest.raises(NotFound):  # before any byte: the web answers 404, not a cut body
        store.open_stream("originals/cd/missing.pdf")
    for _ in range(20):  # a stream given up early is closed; the store keeps answering
        early = store.open_stream(KEY)
        assert next(iter(early)) == data[:CHUNK]
        early.close()
    assert store.get(KEY) == data


def test_the_filesystem_store_opens_an_object_for_streaming(tmp_path: Path) -> None:
    _opens_and_streams(FilesystemObjectStore(tmp_path / "objects"), tmp_path)


@pytest.mark.integration
def test_the_s3_store_opens_an_object_for_streaming(
    tmp_path: Path, s3_settings: dict[str, object]
) -> None:
    store = open_object_store(Settings(data_dir=tmp_path, **s3_settings))  # type: ignore[arg-type]
    _opens_and_streams(store, tmp_path)


@pytest.mark.integration
def test_an_original_on_s3_is_downloaded_whole_with_its_length(
    tmp_path: Path, s3_settings: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = AppContext.from_settings(make_settings(tmp_path / "data", **s3_settings), migrate=True)
    try:
        seed_users(ctx)
        doc = make_document(ctx, department_id="402")
        data = b"%PDF-1.7\n" + os.urandom(3 * MiB)
        with ctx.db.session() as session:
            row = session.get(Document, doc)
            assert row is not None and row.original_key is not None
            ctx.store.put(row.original_key, data, "application/pdf")

        def whole(*_args: object) -> bytes:
            raise AssertionError("the original was loaded whole")

        monkeypatch.setattr(ctx.store, "get", whole)
        response = token_client(ctx, "clerk402").get(f"/api/documents/{doc}/original")

        assert response.status_code == 200 and response.content == data
        assert response.headers["content-length"] == str(len(data))
        assert TestClient(create_app(ctx)).get(f"/api/documents/{doc}/original").status_code == 401
    finally:
        ctx.close()
