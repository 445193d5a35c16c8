"""Stage *intake*: hot folders, when a drop is complete, header checks. No database."""
