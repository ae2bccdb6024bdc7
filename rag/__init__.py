"""Core library: settings, embedder, the document store and its vector index.

Imports nothing from `ingest`, `api` or `eval`.
"""
