"""Base types every layer uses: errors, domain values, states, media types, backoff."""
