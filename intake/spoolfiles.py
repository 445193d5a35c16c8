"""Spool files: private copies in ``<data dir>/spool``, and the cleanup of leftovers.

Intake copies each hot-folder file there while hashing it (:func:`intake.validate.spool`),
and the worker streams the original there before rasterising it
(``mailroom.runtime.pipeline.original_file``). Both remove their file when done; a process
killed meanwhile (``kill -9``, the OOM killer) cannot. So every name says which process
owns the file, ``<kind>-<pid>@<host>-<random><suffix>``, and :func:`remove_leftovers`
deletes the files no running process holds:

- a file of this host whose process has ended (``os.kill(pid, 0)`` raises
  ``ProcessLookupError``). A process that exists keeps its files, also one of another
  user (``PermissionError``);
- a file named after this very process that it does not hold: an earlier process had the
  same pid (a restarted container, whose main process gets the same pid each time);
- any other file once it is older than :data:`MAX_AGE_SECONDS`: a name from before owners
  were named, or another host's (a pid means nothing on another host, or in another
  container sharing the folder).
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import socket
import stat
import threading
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

#: A spool file whose owner cannot be asked is removed once it is this old (a day).
MAX_AGE_SECONDS = 24 * 3600.0
_OWNER = re.compile(r"[a-z]+-(?P<pid>[0-9]{1,10})@(?P<host>[A-Za-z0-9._]+)-")
_CREATE = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)

#: The names of the spool files this process holds now.
_held: set[str] = set()
_held_lock = threading.Lock()


@dataclass(frozen=True)
class Removed:
    """What one cleanup removed."""

    files: int = 0
    bytes: int = 0


def host_name() -> str:
    """This host's name as spool file names carry it (without ``-``: the name splits)."""
    return re.sub(r"[^A-Za-z0-9.]", "_", socket.gethostname())[:64] or "localhost"


def create(spool_dir: Path, kind: str, suffix: str = "") -> tuple[int, Path]:
    """A new private file (mode 0600) in ``spool_dir``, named after this process: its
    descriptor, open for writing, and its path. :func:`release` removes it again."""
    if not re.fullmatch(r"[a-z]+", kind):
        raise ValueError(f"a spool file's kind is a lower-case word, not {kind!r}")
    spool_dir.mkdir(parents=True, exist_ok=True)
    path = spool_dir / f"{kind}-{os.getpid()}@{host_name()}-{secrets.token_hex(8)}{suffix}"
    with _held_lock:
        _held.add(path.name)  # before the file exists: a cleanup meanwhile leaves it alone
    try:
        return os.open(path, _CREATE, 0o600), path
    except BaseException:
        _forget(path)
        raise


def release(path: Path) -> None:
    """Remove a spool file made by :func:`create` (nothing happens if it is gone)."""
    try:
        path.unlink(missing_ok=True)
    finally:
        _forget(path)


def _forget(path: Path) -> None:
    with _held_lock:
        _held.discard(path.name)


def remove_leftovers(spool_dir: Path, *, max_age: float = MAX_AGE_SECONDS) -> Removed:
    """Remove the spool files that no running process holds (see above); logs and returns
    how many files and bytes went. Never raises: what cannot go now is tried next time."""
    try:
        entries = list(os.scandir(spool_dir))
    except FileNotFoundError:
        return Removed()
    except OSError as exc:
        log.warning("cannot read the spool folder %s: %s", spool_dir, exc)
        return Removed()
    now, files, size = time.time(), 0, 0
    for entry in entries:
        try:
            st = entry.stat(follow_symlinks=False)
            age = now - st.st_mtime
            if not stat.S_ISREG(st.st_mode) or not _left_over(entry.name, age, max_age):
                continue
            os.unlink(entry.path)
        except FileNotFoundError:
            continue  # its owner (or another cleanup) removed it meanwhile
        except OSError as exc:
            log.warning("cannot remove the spool file %s: %s", entry.path, exc)
            continue
        files, size = files + 1, size + st.st_size
    if files:
        log.info(
            "removed %d spool files (%s bytes) left by ended processes from %s",
            files, f"{size:,}", spool_dir,
        )  # fmt: skip
    return Removed(files, size)


def _left_over(name: str, age: float, max_age: float) -> bool:
    owner = _OWNER.match(name)
    if owner is None or owner["host"] != host_name():
        return age > max_age
    pid = int(owner["pid"])
    if pid == os.getpid():
        with _held_lock:
            return name not in _held
    ended = _ended(pid)
    return age > max_age if ended is None else ended


def _ended(pid: int) -> bool | None:
    """Whether process ``pid`` of this host has ended (None: cannot be told)."""
    if pid <= 0 or os.name != "posix":  # on Windows, os.kill would end the process
        return None
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # it exists, and belongs to another user
    except (OverflowError, OSError):
        return None
    return False
