#!/usr/bin/env bash
# Autogenerate an Alembic migration from mailroom/infra/db/models.py against a scratch SQLite database.
# Usage: scripts/new_migration.sh "what changed"
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
.venv/bin/python - "$tmp/scratch.db" "$1" <<'PY'
import sys
from alembic import command
from mailroom.infra.db.database import alembic_config
url = f"sqlite:///{sys.argv[1]}"
cfg = alembic_config(url)
command.upgrade(cfg, "head")
command.revision(cfg, message=sys.argv[2], autogenerate=True)
PY
.venv/bin/ruff format mailroom/infra/db/migrations/versions >/dev/null
.venv/bin/ruff check --fix mailroom/infra/db/migrations/versions >/dev/null || true
