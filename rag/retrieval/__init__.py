"""Retrieval: `hybrid` runs dense and BM25 search under the caller's access filters and
fuses them (`fusion`); `service` is the entry point the answer pipeline, the API and
the CLI use."""
