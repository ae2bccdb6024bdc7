"""SQLite document store: the only code that writes SQL against the store's database.

`DocumentStore` (rag.store.documents) holds documents, chunks, embeddings, the FTS5
full-text index, access groups, failed files and ingest jobs (`store.jobs`, a
rag.store.jobs.JobStore); rag.store.schema holds the schema and its migrations.
"""

from rag.store.documents import DocumentStore, storage_errors, writer_lock
from rag.store.jobs import Job, JobStore
from rag.store.schema import SCHEMA_VERSION

__all__ = ["SCHEMA_VERSION", "DocumentStore", "Job", "JobStore", "storage_errors", "writer_lock"]
