"""Infrastructure: database, object store, queue and the external programs."""
