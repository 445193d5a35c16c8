"""Orchestration: the application context, the pipeline, workers, watchers, supervisor."""
