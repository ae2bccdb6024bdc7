"""Ingestion: files -> text with a page map -> chunks -> embeddings -> store."""
