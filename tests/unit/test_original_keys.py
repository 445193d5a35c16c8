"""Originals under their content's key: an interrupted intake leaves no orphan, duplicates
share one object, and an upload made for nothing is removed only if no row needs it."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from intake.validate import FileChanged
from mailroom.core.states import DocumentState as S
from mailroom.infra.db.models import Document
from mailroom.infra.objects import ObjectStore, StoredObject, original_key
from mailroom.runtime.context import AppContext
from mailroom.runtime.registration import register_file
from tests.bad_inputs import blank_pdf


class Killed(BaseException):
    """The watcher process dying (``kill -9``): nothing after it runs, nothing catches it."""


class DiesAfterTheUpload:
    """The real store; the process dies right after the original is stored, before the
    document row is committed."""

    def __init__(self, real: ObjectStore) -> None:
        self.real = real

    def put_file(self, key: str, path: Path, *args: str, **kwargs: object) -> StoredObject:
        self.real.put_file(key, path, *args, **kwargs)  # type: ignore[arg-type]
        raise Killed

    def __getattr__(self, name: str) -> object:
        return getattr(self.real, name)


class SourceTouchedDuringUpload:
    """The real store; while it stores an original, the scanner writes to the source again."""

    def __init__(self, real: ObjectStore, source: Path) -> None:
        self.real, self.source = real, source

    def put_file(self, key: str, path: Path, *args: str, **kwargs: object) -> StoredObject:
        stored = self.real.put_file(key, path, *args, **kwargs)  # type: ignore[arg-type]
        now = time.time()
        os.utime(self.source, (now, now))
        return stored

    def __getattr__(self, name: str) -> object:
        return getattr(self.real, name)


def aged(path: Path, data: bytes) -> Path:
    """A finished scan: written, its mtime a minute in the past."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    then = time.time() - 60
    os.utime(path, (then, then))
    return path


def documents(ctx: AppContext) -> list[Document]:
    with ctx.db.session() as session:
        return list(session.scalars(select(Document).order_by(Document.received_at)))


def test_a_scan_whose_intake_died_after_the_upload_is_stored_once_when_taken_again(
    ctx: AppContext,
) -> None:
    line = ctx.scan_lines[0]
    data = blank_pdf()
    scan = aged(line.hot_folder / "antrag.pdf", data)
    store = ctx.store
    ctx.store = DiesAfterTheUpload(store)  # type: ignore[assignment]

    with pytest.raises(Killed):
        register_file(ctx, line, scan)

    assert documents(ctx) == []  # the row was never committed
    assert list(store.list()) == [original_key(hashlib.sha256(data).hexdigest(), "pdf")]
    assert scan.exists()  # still in the hot folder: the next poll takes it again

    ctx.store = store
    doc = register_file(ctx, line, scan)

    assert doc is not None and doc.state == S.QUEUED and doc.original_key
    assert [d.id for d in documents(ctx)] == [doc.id]
    assert list(store.list()) == [doc.original_key]  # the first upload, overwritten: no orphan
    assert store.get(doc.original_key) == data


def test_a_duplicate_points_at_the_same_object_as_its_original(
    ctx: AppContext, tmp_path: Path
) -> None:
    line = ctx.scan_lines[0]
    data = blank_pdf()
    first = register_file(ctx, line, aged(tmp_path / "brief.pdf", data), move=False)
    second = register_file(ctx, line, aged(tmp_path / "brief-nochmal.pdf", data), move=False)

    assert first is not None and second is not None
    assert (first.state, second.state) == (S.QUEUED, S.DUPLICATE)
    assert second.duplicate_of == first.id
    assert first.original_key == second.original_key == original_key(first.sha256, "pdf")
    assert list(ctx.store.list()) == [first.original_key]


def test_an_upload_for_nothing_keeps_the_object_another_document_points_at(
    ctx: AppContext, tmp_path: Path
) -> None:
    """A worker quarantined the first scan; the same bytes arrive again and are stored
    again under the same key, but the scanner is still writing: that document is not
    recorded, and the quarantined one keeps its original."""
    line = ctx.scan_lines[0]
    data = blank_pdf()
    first = register_file(ctx, line, aged(tmp_path / "brief.pdf", data), move=False)
    assert first is not None and first.original_key
    with ctx.db.session() as session:
        row = session.get(Document, first.id)
        assert row is not None
        row.state = S.QUARANTINED  # as the worker leaves a document it refused
    again = aged(tmp_path / "brief-wieder.pdf", data)
    store = ctx.store
    ctx.store = SourceTouchedDuringUpload(store, again)  # type: ignore[assignment]

    with pytest.raises(FileChanged):
        register_file(ctx, line, again, move=False)

    assert [d.id for d in documents(ctx)] == [first.id]
    assert list(store.list()) == [first.original_key]
    assert store.get(first.original_key) == data


def test_an_upload_for_nothing_that_no_document_points_at_is_removed(
    ctx: AppContext, tmp_path: Path
) -> None:
    line = ctx.scan_lines[0]
    scan = aged(tmp_path / "brief.pdf", blank_pdf())
    store = ctx.store
    ctx.store = SourceTouchedDuringUpload(store, scan)  # type: ignore[assignment]

    with pytest.raises(FileChanged):
        register_file(ctx, line, scan, move=False)

    assert documents(ctx) == [] and list(store.list()) == []
