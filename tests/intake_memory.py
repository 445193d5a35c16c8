"""Large scans made in pieces, and a process that measures what taking one costs it.

``python -m tests.intake_memory DATA_DIR STAGED_FILE`` registers whatever lies in the
hot folder (a small scan of the same kind: the warm-up), then moves ``STAGED_FILE`` into
the hot folder, resets the process's peak memory, registers it too, and prints as JSON
how far the peak (``VmHWM``) rose.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import struct
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

MiB = 1024 * 1024


def _pieces(total: int, piece: int = MiB) -> Iterator[bytes]:
    pattern = bytes(range(256)) * (piece // 256)
    while total > 0:
        yield pattern[: min(piece, total)]
        total -= piece


class _Hashed:
    """Writes to a file and hashes what was written."""

    def __init__(self, fh: BinaryIO) -> None:
        self.fh = fh
        self.sha256 = hashlib.sha256()

    def write(self, data: bytes) -> None:
        self.fh.write(data)
        self.sha256.update(data)


def big_tiff(path: Path, side: int) -> str:
    """An uncompressed RGB TIFF of ``side`` x ``side`` pixels (one strip); its SHA-256."""
    strip = side * side * 3
    entries = [
        (256, 4, 1, side), (257, 4, 1, side), (258, 3, 3, 8), (259, 3, 1, 1), (262, 3, 1, 2),
        (273, 4, 1, 0), (277, 3, 1, 3), (278, 4, 1, side), (279, 4, 1, strip),
    ]  # fmt: skip
    header_size = 8 + 2 + 12 * len(entries) + 4
    out = b"II*\x00" + struct.pack("<IH", 8, len(entries))
    for tag, kind, count, value in entries:
        if tag == 273:
            value = header_size
        if tag == 258:  # BitsPerSample 8, 8, 8 (6 bytes) does not fit: it follows the strip
            value = header_size + strip
        inline = kind == 3 and count == 1
        body = struct.pack("<HH", value, 0) if inline else struct.pack("<I", value)
        out += struct.pack("<HHI", tag, kind, count) + body
    out += struct.pack("<I", 0)
    with path.open("wb") as fh:
        target = _Hashed(fh)
        target.write(out)
        for piece in _pieces(strip):
            target.write(piece)
        target.write(struct.pack("<HHH", 8, 8, 8))
    return target.sha256.hexdigest()


def big_pdf(path: Path, stream_bytes: int) -> str:
    """A one-page A4 PDF carrying an unused stream of ``stream_bytes``; its SHA-256."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
    ]
    with path.open("wb") as fh:
        target = _Hashed(fh)
        offsets = []
        target.write(b"%PDF-1.4\n")
        position = 9
        for number, body in enumerate(objects, start=1):
            offsets.append(position)
            chunk = b"%d 0 obj\n%s\nendobj\n" % (number, body)
            target.write(chunk)
            position += len(chunk)
        offsets.append(position)
        head = b"4 0 obj\n<< /Length %d >>\nstream\n" % stream_bytes
        target.write(head)
        for piece in _pieces(stream_bytes):
            target.write(piece)
        tail = b"\nendstream\nendobj\n"
        target.write(tail)
        xref = position + len(head) + stream_bytes + len(tail)
        table = b"xref\n0 5\n0000000000 65535 f \n" + b"".join(
            b"%010d 00000 n \n" % offset for offset in offsets
        )
        target.write(table + b"trailer\n<< /Size 5 /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % xref)
    return target.sha256.hexdigest()


def big_png(path: Path, side: int) -> str:
    """An RGB PNG of ``side`` x ``side`` pixels, stored (not compressed) in ONE IDAT chunk."""
    row = b"\x00" + bytes(range(256)) * (side * 3 // 256)
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    with path.open("w+b") as fh:
        fh.write(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header))
        start = fh.tell()
        fh.write(b"\x00\x00\x00\x00IDAT")
        crc, length = zlib.crc32(b"IDAT"), 0
        for data in _stored(row, side):
            fh.write(data)
            crc, length = zlib.crc32(data, crc), length + len(data)
        fh.write(struct.pack(">I", crc & 0xFFFFFFFF) + _chunk(b"IEND", b""))
        fh.seek(start)
        fh.write(struct.pack(">I", length))
    return _sha256(path)


def _stored(row: bytes, rows: int) -> Iterator[bytes]:
    """``rows`` times ``row`` as a zlib stream of stored (uncompressed) blocks, in pieces."""
    deflate = zlib.compressobj(0)
    for _ in range(rows):
        yield deflate.compress(row)
    yield deflate.flush()


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while piece := fh.read(MiB):
            digest.update(piece)
    return digest.hexdigest()


def _peak_kib() -> int:
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+)", status).group(1))  # type: ignore[union-attr]


def _reset_peak() -> None:
    # VmHWM := the current VmRSS; where that is refused, the (small) warm-up's peak counts.
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def main(data_dir: Path, staged: Path) -> None:
    from mailroom.runtime.context import AppContext
    from mailroom.runtime.watchers import scan_once
    from tests.conftest import make_settings

    ctx = AppContext.from_settings(make_settings(data_dir))
    line = ctx.scan_lines[0]
    warm_up = [r.outcome for r in scan_once(ctx, line)]
    target = line.hot_folder / staged.name
    staged.rename(target)
    then = time.time() - 60
    os.utime(target, (then, then))
    _reset_peak()
    before = _peak_kib()
    outcomes = [(r.source_name, r.outcome, r.reason) for r in scan_once(ctx, line)]
    after = _peak_kib()
    ctx.close()
    print(json.dumps({"warm_up": warm_up, "outcomes": outcomes, "grew_kib": after - before}))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
