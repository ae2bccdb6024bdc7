"""The vector index: a cache of the chunk embeddings kept in SQLite, searchable by
nearest neighbour. `backend` is the interface, `faiss_index` (embedded default) and
`qdrant_index` (scale-out) implement it, `sync` loads either level with the store,
`factory` picks one from settings and `migration` moves a store between them."""
