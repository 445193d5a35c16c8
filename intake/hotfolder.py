"""The hot folder of one scan line (Scanstraße): what lies in it, when it is complete, and
where a file goes once it has been taken (``processed/``) or refused (``quarantine/``).

Hot folders are often SMB/NFS shares, so everything here works by polling ``lstat`` and
never follows a symbolic link. Names come from scanners and are untrusted: every name that
ends up in a destination path is sanitised and the destination is checked to stay inside
its folder.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import time
import unicodedata
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from mailroom.core.errors import (
    ConfigurationError,
    FolderUnavailable,
    TransientError,
    UnsafePath,
)

PROCESSED = "processed"
QUARANTINE = "quarantine"
RESERVED = (PROCESSED, QUARANTINE)
#: Written into a batch folder once its Batch row exists, so a restart keeps the batch id.
BATCH_MARKER = ".mailroom-batch"
REASON_SUFFIX = ".reason.txt"

#: Files a capture program or a transfer is still writing; never taken.
TEMP_SUFFIXES = (".tmp", ".temp", ".part", ".partial", ".crdownload", ".filepart", ".download")
#: Files operating systems leave in shared folders; never taken.
OS_JUNK = frozenset({"thumbs.db", "desktop.ini", ".ds_store", "ehthumbs.db"})
#: Longest file name (in UTF-8 bytes) written to processed/ or quarantine/; leaves room
#: for a uniqueness counter and ``.reason.txt`` below the usual 255-byte limit.
MAX_NAME_BYTES = 200


def is_junk(name: str) -> bool:
    """True for temporary and system files that are no documents (and are left alone)."""
    lower = name.lower()
    return (
        lower.startswith((".", "~"))
        or lower.endswith("~")
        or lower.endswith(TEMP_SUFFIXES)
        or lower in OS_JUNK
    )


# --- names ----------------------------------------------------------------------------


def sanitize_name(name: str, max_bytes: int = MAX_NAME_BYTES) -> str:
    """One safe path component: no separators, control characters, ``.``/``..``.

    The extension is kept when the name has to be shortened, so ``…long….pdf`` stays a PDF.
    """
    text = unicodedata.normalize("NFC", name)
    text = "".join(
        "_" if (unicodedata.category(ch)[0] == "C" or ch in "/\\") else ch for ch in text
    ).strip()
    if set(text) <= {"."}:  # "", ".", "..", "...": never a path component of its own
        text = text.replace(".", "_") or "unnamed"
    return _shorten(text, max_bytes)


def _shorten(text: str, max_bytes: int) -> str:
    if len(text.encode()) <= max_bytes:
        return text
    stem, dot, ext = text.rpartition(".")
    suffix = f".{ext}" if dot and stem and len(ext.encode()) <= 16 else ""
    base = stem if suffix else text
    budget = max_bytes - len(suffix.encode())
    while len(base.encode()) > budget:
        base = base[:-1]
    return base + suffix


def source_name(relative: PurePosixPath | Path) -> str:
    """The name stored in the database: the sanitised path below the hot folder."""
    return "/".join(sanitize_name(part) for part in PurePosixPath(relative).parts)[:500]


def relative_inside(root: Path, path: Path) -> PurePosixPath:
    """``path`` relative to ``root``; raises :class:`UnsafePath` if it lies outside.

    The parent directory is resolved (symlinks, ``..``), the file itself is not followed,
    so a symbolic link inside the folder is reported as itself.
    """
    root = root.resolve()
    real = Path(os.path.realpath(path.parent)) / path.name
    if path.name in ("", ".", "..") or not real.is_relative_to(root) or real == root:
        raise UnsafePath(
            f"{path} is not inside the hot folder {root}",
            hint="only files inside the scan line's hot folder are taken",
        )
    return PurePosixPath(real.relative_to(root).as_posix())


# --- moving ---------------------------------------------------------------------------


def ensure_folders(hot: Path) -> None:
    """Create the hot folder with ``processed/`` and ``quarantine/``; refuse symlinked ones."""
    hot.mkdir(parents=True, exist_ok=True)
    for name in RESERVED:
        folder = hot / name
        if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
            raise ConfigurationError(
                f"{folder} is not a plain folder",
                hint=f"remove it; mailroom creates {name}/ itself",
            )
        folder.mkdir(exist_ok=True)


def destination_for(hot: Path, target: str, relative: PurePosixPath) -> Path:
    """A free path below ``hot/<target>`` mirroring ``relative`` with sanitised names.

    Folders are created as needed; an existing file is never overwritten (``name-1.pdf``).
    Raises :class:`ConfigurationError` if a folder on the way is a link leading elsewhere.
    """
    root = (hot / target).resolve()
    parts = [sanitize_name(p) for p in relative.parts]
    folder = root.joinpath(*parts[:-1])
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TransientError(f"cannot create {folder}: {exc.strerror}") from exc
    if not folder.resolve().is_relative_to(root):
        raise ConfigurationError(f"{folder} leads outside {root}", hint="remove the symbolic link")
    return unique_path(folder / parts[-1])


def unique_path(path: Path) -> Path:
    """``path`` or, if taken, ``stem-1.ext``, ``stem-2.ext`` …"""
    if not os.path.lexists(path) and not os.path.lexists(_reason_path(path)):
        return path
    stem, suffix = path.stem, path.suffix
    for counter in range(1, 100_000):
        candidate = path.with_name(f"{stem}-{counter}{suffix}")
        if not os.path.lexists(candidate) and not os.path.lexists(_reason_path(candidate)):
            return candidate
    raise TransientError(f"no free name for {path.name} in {path.parent}")


def _reason_path(path: Path) -> Path:
    return path.with_name(path.name + REASON_SUFFIX)


def move_file(source: Path, destination: Path) -> None:
    """Rename within the same file system (a link is moved as a link, never followed)."""
    try:
        os.replace(source, destination)
    except FileNotFoundError as exc:
        raise TransientError(f"cannot move {source.name}: {exc.strerror}") from exc
    except OSError as exc:  # the folder's problem (read-only, full, permissions), not the file's
        raise FolderUnavailable(
            f"cannot move {source.name} to {destination.parent}: {exc.strerror}",
            hint="check the hot folder's permissions and free space; the file is retried",
        ) from exc


def write_reason_file(destination: Path, text: str) -> Path:
    """Write ``<name>.reason.txt`` beside a quarantined file (temp file, then rename)."""
    reason = _reason_path(destination)
    tmp = reason.with_name(reason.name + ".tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, reason)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise TransientError(f"cannot write {reason}: {exc.strerror}") from exc
    return reason


def write_reason_beside(hot: Path, moved_to: str, text: str) -> Path | None:
    """Write ``<name>.reason.txt`` beside a file intake filed away below ``hot``.

    ``moved_to`` is the file's path relative to the hot folder (``processed/brief.pdf``).
    Returns None, writing nothing, when that folder is not reachable from here (a worker
    on another host) or the path would lead outside ``processed/`` and ``quarantine/``.
    """
    root = hot.resolve()
    target = root / moved_to
    folder = Path(os.path.realpath(target.parent))
    inside = any(folder.is_relative_to(root / name) for name in RESERVED)
    if not inside or not folder.is_dir() or target.name in ("", ".", ".."):
        return None
    return write_reason_file(folder / target.name, text)


def reason_text(
    heading: str, *, name: str, line: str, document_id: str, sha256: str, reason: str
) -> str:
    """The reason file a person at the scan centre reads (German)."""
    return (
        f"{heading}\n\n"
        f"Datei:       {name}\n"
        f"Scanstraße:  {line}\n"
        f"Dokument-ID: {document_id}\n"
        f"SHA-256:     {sha256 or '(nicht gelesen)'}\n"
        f"Zeitpunkt:   {datetime.now(UTC).isoformat(timespec='seconds')}\n"
        f"Grund:       {reason}\n\n"
        "Was tun: Ursache beheben (z. B. neu scannen oder als TIFF/PDF exportieren) und die\n"
        "Datei erneut in den Hot-Folder legen.\n"
    )


def remove_empty_folders(top: Path) -> None:
    """Remove ``top`` and its sub-folders if they are empty (a finished batch folder)."""
    for dirpath, _dirs, _files in sorted(os.walk(top), key=lambda w: -len(w[0])):
        # Not empty (junk left behind) or already gone: leave it.
        with contextlib.suppress(OSError):
            os.rmdir(dirpath)


# --- what lies in the folder ----------------------------------------------------------


@dataclass(frozen=True)
class Drop:
    """Something a scan line dropped: a single file or a batch folder (Stapel)."""

    path: Path
    is_batch: bool
    #: Changes whenever a file in it grows, is touched, appears or disappears.
    signature: frozenset[tuple[str, int, int]]
    newest_mtime: float


def list_drops(hot: Path) -> list[Drop]:
    """Files and batch folders directly in the hot folder, oldest first; junk skipped."""
    drops: list[Drop] = []
    with os.scandir(hot) as entries:
        for entry in entries:
            if is_junk(entry.name):
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue  # renamed or taken away while listing: seen on the next poll
            if stat.S_ISDIR(st.st_mode):
                if entry.name in RESERVED:
                    continue
                drops.append(_batch_drop(Path(entry.path)))
            else:
                sig = frozenset({(entry.name, st.st_size, st.st_mtime_ns)})
                drops.append(Drop(Path(entry.path), False, sig, st.st_mtime))
    return sorted(drops, key=lambda d: (d.newest_mtime, d.path.name))


def _batch_drop(folder: Path) -> Drop:
    items: set[tuple[str, int, int]] = set()
    newest = 0.0
    for path, st in walk_entries(folder, include_junk=True):
        if path.name == BATCH_MARKER:
            continue
        items.add((path.relative_to(folder).as_posix(), st.st_size, st.st_mtime_ns))
        newest = max(newest, st.st_mtime)
    return Drop(folder, True, frozenset(items), newest)


def walk_entries(folder: Path, *, include_junk: bool) -> Iterator[tuple[Path, os.stat_result]]:
    """Every non-directory entry below ``folder`` in name order, links not followed.

    A symbolic link to a folder is reported as an entry (to be refused), not entered.
    """
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        base = Path(dirpath)
        if not include_junk:
            dirnames[:] = [d for d in dirnames if not is_junk(d)]
        dirnames.sort()
        links = [d for d in dirnames if (base / d).is_symlink()]
        for name in sorted([*filenames, *links]):
            if not include_junk and is_junk(name):
                continue
            try:
                yield base / name, os.lstat(base / name)
            except FileNotFoundError:
                continue


class StabilityTracker:
    """Decides when a drop is complete: unchanged for ``stable_seconds``.

    With ``observe=True`` (the long-running watcher) a drop must have been *seen* unchanged
    over that time, which also catches copies that preserve an old mtime while the size
    still grows, and does not depend on the file server's clock. With ``observe=False``
    (a one-off scan) the age of the newest mtime decides.
    """

    def __init__(self, stable_seconds: float, *, observe: bool = True) -> None:
        self.stable_seconds = stable_seconds
        self.observe = observe
        self._seen: dict[Path, tuple[frozenset[tuple[str, int, int]], float]] = {}

    def is_stable(self, drop: Drop) -> bool:
        if not self.observe:
            return time.time() - drop.newest_mtime >= self.stable_seconds
        # Observed time only: the file server's clock may be off (SMB/NFS), ours is not.
        now = time.monotonic()
        previous = self._seen.get(drop.path)
        if previous is None or previous[0] != drop.signature:
            self._seen[drop.path] = (drop.signature, now)
            return self.stable_seconds == 0
        return now - previous[1] >= self.stable_seconds

    def forget_missing(self, present: set[Path]) -> None:
        """Drop the memory of paths that are gone (taken or deleted)."""
        for path in list(self._seen):
            if path not in present:
                del self._seen[path]


#: The lock a watcher holds on its hot folder (hidden: watchers and scanners ignore it).
LOCK_NAME = ".mailroom-watcher.lock"


class FolderLock:
    """One watcher at a time takes files from a hot folder (``flock`` on a hidden file).

    Two watchers on one folder — a second ``mailroom watch`` beside ``mailroom up``, or a
    standby on the same host — would both take a new file and make two documents of it.
    The first to lock the folder takes files; the others stand by and take over when it
    ends (the kernel releases the lock of a process that died, ``kill -9`` included).
    """

    def __init__(self, folder: Path) -> None:
        self.path = folder / LOCK_NAME
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> bool:
        """Try to take the lock (never waits); True if this watcher holds it now."""
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._fd = fd
        self._closer = weakref.finalize(self, os.close, fd)  # a dropped watcher lets go
        return True

    def release(self) -> None:
        if self._fd is not None:
            self._closer()  # closing the descriptor releases the lock
            self._fd = None
