"""kombu's filesystem transport (the embedded queue), with message files written atomically.

kombu's own ``Channel._put`` creates the message file under its final name and only then
writes the body. A consumer in another process lists the folder, moves the file away and
reads it — and can find it still empty: ``loads('')`` fails in the consumer and the message
is gone. Here the body is written under a temporary name that the consumer's filter never
matches (it wants ``<...>.<queue>.msg``) and renamed into place, which is atomic on POSIX.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    """A filesystem channel whose messages appear only once they are complete."""

    # kombu's stub lacks the keywords basic_publish passes (mandatory, immediate).
    def _put(self, queue: Any, message: Any, **kwargs: Any) -> None:  # type: ignore[override]
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = os.path.join(self.data_folder_out, f".{name}.part")
        try:
            with open(partial, "wb") as fh:
                fh.write(str_to_bytes(dumps(message)))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(partial, final)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(partial)
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    """``filesystem://`` with :class:`Channel`."""

    Channel = Channel
