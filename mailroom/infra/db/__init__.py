"""The SQL database: table models, engine and sessions, the audit trail, migrations."""
