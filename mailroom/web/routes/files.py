"""Files of a document (page images, PDF, text, original) from the object store.

Never a direct link to the store: every download passes the access check and is audited.
Objects are streamed from the store in chunks (an original may have hundreds of MB; the web
process never holds one whole). The view is recorded before the object is opened: a
missing object (404) or an unavailable store (503) rolls the request's session back, so
the trail holds only downloads that were served.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Response
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session
from starlette.background import BackgroundTask

from mailroom.core.errors import NotFound
from mailroom.infra.db.models import Document, Page, User
from mailroom.infra.object_stream import ObjectStream
from mailroom.runtime.context import AppContext
from mailroom.services import access
from mailroom.web.deps import AnyStaff, Ctx, DbSession

router = APIRouter(include_in_schema=False)

#: Types served inline; anything else is a download (never let the browser guess).
INLINE_TYPES = {"image/jpeg", "image/png", "application/pdf", "text/plain; charset=utf-8"}


def _object(ctx: AppContext, key: str | None, what: str) -> ObjectStream:
    """The object opened for streaming (NotFound and StorageUnavailable raise here)."""
    if not key:
        raise NotFound(f"this document has no {what}")
    return ctx.store.open_stream(key)


def _response(
    body: bytes | ObjectStream, media_type: str, filename: str, *, attachment: bool = False
) -> Response:
    inline = media_type in INLINE_TYPES and not attachment
    disposition = "inline" if inline else "attachment"
    media_type = media_type if media_type in INLINE_TYPES else "application/octet-stream"
    headers = {"Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(filename)}"}
    if isinstance(body, bytes):
        return Response(body, media_type=media_type, headers=headers)
    if body.size is not None:
        headers["Content-Length"] = str(body.size)
    # Read to the end, the stream closes itself; the task closes one the client left early.
    return StreamingResponse(
        body, media_type=media_type, headers=headers, background=BackgroundTask(body.close)
    )


def page_image(
    session: Session, ctx: AppContext, user: User, document_id: str, number: int
) -> Response:
    """The JPEG of one page (Seitenbild)."""
    doc = access.load_visible(session, user, document_id, what="page_image")
    page = session.query(Page).filter_by(document_id=doc.id, number=number).one_or_none()
    keys = (doc.objects or {}).get("pages") or []
    key = page.image_key if page is not None and page.image_key else None
    if key is None and 0 < number <= len(keys):
        key = keys[number - 1]
    access.record_view(session, user, doc, "page_image")
    return _response(
        _object(ctx, key, f"image of page {number}"), "image/jpeg", f"{doc.id}-{number}.jpg"
    )


def document_file(
    session: Session, ctx: AppContext, user: User, document_id: str, kind: str
) -> Response:
    """``pdf`` (searchable PDF), ``text`` (recognised text) or ``original`` (as scanned)."""
    doc = access.load_visible(session, user, document_id, what=kind)
    objects = doc.objects or {}
    if kind not in ("pdf", "text", "original"):
        raise NotFound(f"unknown file kind {kind!r}")
    access.record_view(session, user, doc, f"download_{kind}")
    if kind == "pdf":
        pdf = _object(ctx, objects.get("pdf"), "searchable PDF yet")
        return _response(pdf, "application/pdf", f"{doc.id}.pdf")
    if kind == "text":
        text: bytes | ObjectStream = (
            doc.text.encode() if doc.text is not None else _object(ctx, objects.get("text"), "text")
        )
        return _response(text, "text/plain; charset=utf-8", f"{doc.id}.txt")
    original = _object(ctx, objects.get("original") or doc.original_key, "original")
    return _response(original, doc.media_type, _original_name(doc))


def _original_name(doc: Document) -> str:
    return doc.source_name.replace("\\", "/").rsplit("/", 1)[-1] or doc.id


@router.get("/documents/{document_id}/pages/{number}.jpg")
def page_image_route(
    document_id: str, number: int, user: AnyStaff, session: DbSession, ctx: Ctx
) -> Response:
    return page_image(session, ctx, user, document_id, number)


@router.get("/documents/{document_id}/file/{kind}")
def document_file_route(
    document_id: str, kind: str, user: AnyStaff, session: DbSession, ctx: Ctx
) -> Response:
    return document_file(session, ctx, user, document_id, kind)
