"""The media types a scan line may deliver, told from the file's first bytes."""

from __future__ import annotations

from mailroom.core.errors import EmptyFile, UnsupportedFileType

TIFF, PNG, JPEG, PDF = "image/tiff", "image/png", "image/jpeg", "application/pdf"
#: File extension of the stored original per media type, the ``<ext>`` of its object key
#: ``originals/<sha[:2]>/<sha256>.<ext>`` (``mailroom.infra.objects.original_key``).
EXTENSIONS = {TIFF: "tif", PNG: "png", JPEG: "jpg", PDF: "pdf"}
#: Bytes :func:`sniff_media_type` needs to see.
SNIFF_BYTES = 1024


def sniff_media_type(data: bytes) -> str:
    """Tell the media type from the magic bytes: TIFF, PNG, JPEG or PDF.

    Raises :class:`EmptyFile` for zero bytes and :class:`UnsupportedFileType` otherwise.
    """
    if not data:
        raise EmptyFile("the file is empty (0 bytes)", hint="check the scanner's export")
    if data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return TIFF
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return PNG
    if data[:3] == b"\xff\xd8\xff":
        return JPEG
    if b"%PDF-" in data[:SNIFF_BYTES]:  # the PDF spec tolerates junk before the header
        return PDF
    raise UnsupportedFileType(
        "the file is neither TIFF, PNG, JPEG nor PDF",
        hint="configure the scan line to export TIFF or PDF",
    )


__all__ = ["EXTENSIONS", "JPEG", "PDF", "PNG", "SNIFF_BYTES", "TIFF", "sniff_media_type"]
