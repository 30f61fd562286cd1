"""Ingestion: load → clean → chunk → embed → write, idempotent by content hash."""
