"""The one typed settings object, read from ``MAILROOM_*`` environment variables.

With no configuration at all, mailroom runs *embedded*: SQLite, a kombu filesystem
transport and a filesystem object store, all under ``MAILROOM_DATA_DIR`` (default ``./data``).
Setting ``MAILROOM_DATABASE_URL``, ``MAILROOM_BROKER_URL`` and ``MAILROOM_S3_ENDPOINT`` moves
the same code onto PostgreSQL, RabbitMQ and MinIO/S3.
"""

from __future__ import annotations

import os
import secrets
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from mailroom.core.backoff import BackoffPolicy
from mailroom.core.errors import ConfigurationError

#: The folder with the shipped domain configuration (file plan, scan lines).
CONFIG_DIR = Path(__file__).resolve().parent


class Settings(BaseSettings):
    """Validated once at start-up and passed down; nothing reads the environment later."""

    model_config = SettingsConfigDict(env_prefix="MAILROOM_", extra="ignore")

    environment: Literal["development", "production"] = "development"
    data_dir: Path = Path("data")

    database_url: str | None = None
    broker_url: str | None = None

    s3_endpoint: str | None = None
    s3_access_key: str | None = None
    s3_secret_key: SecretStr | None = None
    s3_bucket: str = "mailroom"
    s3_secure: bool = False
    s3_region: str | None = None

    #: The file plan. Unset: ``<data dir>/fileplan.yaml`` once one was imported there
    #: (Verwaltung -> Aktenplan), else the example plan shipped in the package.
    file_plan: Path | None = None
    scan_lines: Path = CONFIG_DIR / "scanlines.yaml"

    queue_name: str = "mailroom.documents"
    #: Attempts before a transiently failing document is dead-lettered.
    max_attempts: int = Field(default=5, ge=1)
    retry_backoff_seconds: float = Field(default=5.0, gt=0)
    retry_backoff_max_seconds: float = Field(default=300.0, gt=0)
    #: Longest wait between attempts to reach an unavailable service.
    service_backoff_max_seconds: float = Field(default=30.0, gt=0)
    #: How long a worker's claim on a document (its lease) lasts unless renewed. A worker
    #: renews it every third of this while it works on the document, so it runs out only
    #: when the worker died or lost the database; then the next sweep republishes the
    #: document: within ``lease_seconds + sweep_interval_seconds`` (< 60 s) of the death.
    lease_seconds: int = Field(default=40, ge=10)
    #: A queued document untouched this long is published again (lost message).
    requeue_after_seconds: int = Field(default=120, ge=5)
    sweep_interval_seconds: float = Field(default=15.0, gt=0)
    #: AMQP heartbeat timeout a worker asks RabbitMQ for. Heartbeats go on while a document
    #: is being processed; RabbitMQ drops a connection silent for about twice this long.
    broker_heartbeat_seconds: int = Field(default=30, ge=2, le=600)

    workers: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1)

    ocr_language: str = "deu"
    #: The German word list the OCR plausibility checks use (Debian ``wngerman``).
    ocr_wordlist: Path = Path("/usr/share/dict/ngerman")
    ocr_timeout_seconds: int = Field(default=180, ge=5)
    #: Pages above this many pixels are refused (decompression bombs).
    max_page_pixels: int = Field(default=120_000_000, ge=1_000_000)
    max_file_bytes: int = Field(default=500 * 1024 * 1024, ge=1024)
    max_pages: int = Field(default=500, ge=1)
    rasterize_dpi: int = Field(default=300, ge=72, le=600)

    #: Seconds a file's size and mtime must stay unchanged before intake takes it.
    intake_stable_seconds: float = Field(default=2.0, ge=0)
    intake_poll_seconds: float = Field(default=1.0, gt=0)

    #: Calibrated precision a department's automatic routing must reach.
    target_precision: float = Field(default=0.98, gt=0.5, le=1.0)
    #: Confidence at or above which a document is routed without review, until a trained
    #: model has measured the threshold that reaches ``target_precision``.
    default_auto_threshold: float = Field(default=0.85, gt=0, le=1.0)
    retrain_after_corrections: int = Field(default=50, ge=1)

    web_host: str = "127.0.0.1"
    web_port: int = 8000
    secret_key: SecretStr | None = None

    #: Failed logins for one user name within ``login_window_seconds`` before further
    #: attempts for that name are refused until the window has passed.
    login_max_failures: int = Field(default=5, ge=1)
    #: The same for one client address. Higher, because a whole office may reach the web
    #: app through one proxy or NAT address (see :mod:`mailroom.services.login_throttle`).
    login_max_failures_per_client: int = Field(default=20, ge=1)
    login_window_seconds: int = Field(default=15 * 60, ge=10)

    metrics_token: SecretStr | None = Field(
        default=None,
        description=(
            "Bearer token that /metrics requires (Authorization: Bearer <token>); unset, "
            "/metrics is open to anyone who reaches the web port. Production should set it "
            "and give the same token to the Prometheus scrape job (authorization.credentials)."
        ),
    )

    log_level: str = "INFO"

    @model_validator(mode="after")
    def _production_needs_real_services(self) -> Settings:
        if self.environment == "production":
            missing = [
                name
                for name, value in (
                    ("MAILROOM_DATABASE_URL", self.database_url),
                    ("MAILROOM_BROKER_URL", self.broker_url),
                    ("MAILROOM_S3_ENDPOINT", self.s3_endpoint),
                    ("MAILROOM_SECRET_KEY", self.secret_key),
                )
                if not value
            ]
            if missing:
                raise ValueError(
                    "production needs " + ", ".join(missing) + " (see README, 'Production')"
                )
            if self.s3_access_key in (None, "minioadmin") or self.s3_secret_key is None:
                raise ValueError("production refuses default S3 credentials")
        return self

    # -- derived values ---------------------------------------------------------------

    @property
    def embedded(self) -> bool:
        """True when no external service is configured."""
        return not (self.database_url or self.broker_url or self.s3_endpoint)

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'mailroom.db').resolve()}"

    @property
    def queue_url(self) -> str:
        return self.broker_url or "filesystem://"

    @property
    def queue_folder(self) -> Path:
        return self.data_dir / "queue"

    @property
    def objects_dir(self) -> Path:
        return self.data_dir / "objects"

    @property
    def uses_amqp(self) -> bool:
        return self.queue_url.startswith(("amqp://", "amqps://", "pyamqp://"))

    @cached_property
    def session_secret(self) -> str:
        """The web session signing key; generated once per data dir in development."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        path = self.data_dir / "secret_key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(secrets.token_urlsafe(48))
            tmp.chmod(0o600)
            tmp.replace(path)
        return path.read_text().strip()

    @property
    def file_plan_path(self) -> Path:
        """The file plan in force (see :attr:`file_plan`)."""
        if self.file_plan is not None:
            return self.file_plan
        imported = self.file_plan_target
        return imported if imported.is_file() else CONFIG_DIR / "fileplan.yaml"

    @property
    def file_plan_target(self) -> Path:
        """Where an imported file plan is written: never into the installed package."""
        return self.file_plan or self.data_dir / "fileplan.yaml"

    @property
    def backoff(self) -> BackoffPolicy:
        """The one retry policy (watcher, document retries; services wait by service_backoff)."""
        return BackoffPolicy(self.retry_backoff_seconds, self.retry_backoff_max_seconds)

    @property
    def service_backoff(self) -> BackoffPolicy:
        """The same policy, capped for waiting out an unavailable service (broker, database,
        object store): a worker or watcher is back within ``service_backoff_max_seconds``
        of the service's return."""
        base = min(self.retry_backoff_seconds, 1.0)
        return BackoffPolicy(base, self.service_backoff_max_seconds)

    def hot_folder_root(self) -> Path:
        """Relative hot folders in ``scanlines.yaml`` are below this folder."""
        return self.data_dir / "scanlines"


def load_settings(**overrides: object) -> Settings:
    """Read and validate the settings; raise :class:`ConfigurationError` on bad values."""
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValueError as exc:
        raise ConfigurationError(f"invalid settings: {exc}") from exc
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return settings
