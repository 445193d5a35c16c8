"""Application services: what people and jobs do with documents, users, cases, models."""
