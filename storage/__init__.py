"""Persistence: the SQL database (SQLAlchemy + Alembic) and the object store (S3 API)."""
