"""The one exception tree of mailroom.

Every error says whether it is *permanent* (bad input or bad configuration: quarantine,
dead-letter, never retry) or *transient* (a service is briefly unavailable: retry with
backoff). One place per surface turns these into exit codes (``mailroom.cli``, codes in
``ExitCode``), HTTP statuses (``mailroom.web``) and queue actions (``mailroom.runtime``).
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """The CLI's exit codes, a stable interface for scripts (README: "Exit codes").

    Never renumber a code; add new ones. 2 is shared on purpose: click exits 2 on a usage
    error (unknown command or option), and a wrong command line and a wrong configuration
    call for the same reaction (fix it, retrying unchanged is pointless).
    """

    OK = 0
    GENERIC = 1  # also an unexpected exception (with a traceback)
    CONFIGURATION = 2  # and click's usage error
    MISSING_DEPENDENCY = 3
    BAD_INPUT = 4
    PROCESSING = 5
    MODEL = 6
    NOT_FOUND = 7
    PERMISSION = 8
    CONFLICT = 9
    TOO_MANY_ATTEMPTS = 10
    TEMPFAIL = 75  # sysexits.h EX_TEMPFAIL: try again later


class MailroomError(Exception):
    """Root of all mailroom errors. ``exit_code`` is what the CLI exits with."""

    exit_code: ExitCode = ExitCode.GENERIC
    permanent = True
    http_status = 500

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


# --- configuration and environment -------------------------------------------------


class ConfigurationError(MailroomError):
    """Settings or domain configuration (file plan, scan lines) are invalid."""

    exit_code = ExitCode.CONFIGURATION


class SchemaNotCurrent(ConfigurationError):
    """The database's schema is not the one this version needs (``mailroom db upgrade``)."""


class MissingDependencyError(MailroomError):
    """An external program (Tesseract, Poppler) or its data is missing."""

    exit_code = ExitCode.MISSING_DEPENDENCY


# --- bad input: permanent, goes to quarantine ------------------------------------


class BadInputError(MailroomError):
    """The scanned file cannot be processed; it goes to quarantine with this reason."""

    exit_code = ExitCode.BAD_INPUT
    http_status = 422


class UnsupportedFileType(BadInputError):
    """Neither TIFF, PNG, JPEG nor PDF."""


class EmptyFile(BadInputError):
    """Zero bytes, or no pages."""


class CorruptFile(BadInputError):
    """The file claims a known type but cannot be decoded."""


class EncryptedDocument(BadInputError):
    """A password-protected PDF."""


class FileTooLarge(BadInputError):
    """Over the byte, page or pixel limit (decompression bomb protection)."""


class UnsafePath(BadInputError):
    """A file name that would escape its folder."""


# --- services: transient, retried -------------------------------------------------


class TransientError(MailroomError):
    """A service failed in a way that may pass; the work is retried with backoff."""

    permanent = False
    exit_code = ExitCode.TEMPFAIL
    http_status = 503


class StorageUnavailable(TransientError):
    """The object store did not answer or refused a write."""


class DatabaseUnavailable(TransientError):
    """The database did not answer."""


class FolderUnavailable(TransientError):
    """A folder intake writes to refuses the write: ``processed/`` or ``quarantine/``
    read-only or gone, the disk under them or under the spool folder full.

    Not a problem of the file in hand: the whole scan line waits (like for a service) and
    goes on at once when a file can be filed away again.
    """


class BrokerUnavailable(TransientError):
    """The message broker did not answer."""


class OcrTimeout(TransientError):
    """Tesseract took longer than the configured limit."""


# --- processing failures that are permanent -------------------------------------


class ProcessingError(MailroomError):
    """A pipeline stage failed on this document for a reason retrying will not fix."""

    exit_code = ExitCode.PROCESSING


class OcrError(ProcessingError):
    """Tesseract failed on a page."""


class ModelError(MailroomError):
    """A classifier model file is corrupt, foreign or of an unknown format version."""

    exit_code = ExitCode.MODEL


class NotFound(MailroomError):
    """A document, case, user or model version does not exist."""

    exit_code = ExitCode.NOT_FOUND
    http_status = 404


class WrongPassword(BadInputError):
    """The current password given to confirm a change (own password) is wrong."""


class PermissionDenied(MailroomError):
    """The caller may not see or change this object."""

    exit_code = ExitCode.PERMISSION
    http_status = 403


class Conflict(MailroomError):
    """The action does not fit the object's current state."""

    exit_code = ExitCode.CONFLICT
    http_status = 409


class TooManyAttempts(MailroomError):
    """Too many failed logins for a user name or from one address: wait and try again.

    ``retry_after`` is the number of seconds until the next attempt is accepted.
    """

    exit_code = ExitCode.TOO_MANY_ATTEMPTS
    permanent = False
    http_status = 429

    def __init__(self, message: str, *, retry_after: int, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.retry_after = max(1, int(retry_after))
