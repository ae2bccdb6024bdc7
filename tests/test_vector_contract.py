"""One contract for every vector store backend: FAISS and Qdrant (qdrant-client's local
mode, no server) pass the same tests, with real SQLite stores and tiny vectors."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from ingest.demo import write_demo_corpus
from ingest.pipeline import IngestService
from rag.retrieval.fusion import FusionWeights
from rag.retrieval.hybrid import Retriever
from rag.retrieval.service import SearchService
from rag.settings import IndexSettings, Settings
from rag.store import DocumentStore
from rag.types import ChunkDraft, NewDocument, PageSpan, SearchFilters
from rag.vectors.backend import VectorBackend
from rag.vectors.factory import open_vector_store

pytest.importorskip("qdrant_client")
from rag.vectors.qdrant_index import QdrantIndex, close_connections, connect
from tests.fakes import HashingEmbedder

DIM = 6  # tiny, readable vectors
EMB = HashingEmbedder(DIM)
FP = f"{EMB.fingerprint}||contract"
BACKENDS = ["faiss", "qdrant"]


@pytest.fixture(autouse=True)
def _close_qdrant_clients() -> Iterator[None]:
    yield
    close_connections()


def unit(rows: np.ndarray) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.float32)
    return rows / np.linalg.norm(rows, axis=-1, keepdims=True)


def put(store: DocumentStore, path: str, vectors: np.ndarray, groups: tuple[str, ...]) -> list[int]:
    """A document whose chunks have exactly these vectors; returns the chunk ids."""
    texts = [f"{Path(path).stem} part {i}" for i in range(len(vectors))]
    chunks, offset = [], 0
    for i, text in enumerate(texts):
        chunks.append(ChunkDraft(text, offset, offset + len(text), i + 1, i + 1, "", 3))
        offset += len(text) + 2
    doc = NewDocument(
        path=path,
        sha256=path.ljust(64, "x")[:64],
        title=path,
        mime="text/plain",
        groups=groups,
        text="\n\n".join(texts),
        pages=tuple(PageSpan(c.page_start, c.start, c.end) for c in chunks),
        size_bytes=offset,
        fingerprint=FP,
    )
    _, _, added = store.put_document(doc, chunks, unit(vectors))
    return added


@pytest.fixture(params=BACKENDS)
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", index=IndexSettings(backend=request.param))


@pytest.fixture
def store(settings: Settings) -> DocumentStore:
    """Three documents, seven chunks with distinct random directions."""
    store = DocumentStore(settings.db_path)
    rng = np.random.default_rng(7)
    put(store, "/hr/pay.txt", rng.normal(size=(3, DIM)), ("hr",))
    put(store, "/public/guide.txt", rng.normal(size=(3, DIM)), ("public",))
    put(store, "/finance/budget.txt", rng.normal(size=(1, DIM)), ("finance", "hr"))
    store.set_meta("fingerprint", FP)
    return store


def load(settings: Settings, store: DocumentStore) -> VectorBackend:
    index, _ = open_vector_store(settings, store, DIM, FP)
    return index


def exact_top(store: DocumentStore, query: np.ndarray, k: int) -> tuple[list[int], np.ndarray]:
    """The expected answer, by brute force over the vectors SQLite holds."""
    ids = store.chunk_ids(FP).tolist()
    stored = store.embeddings(ids, DIM)
    scores = np.array([float(stored[i] @ query) for i in ids])
    order = np.argsort(-scores)[:k]
    return [ids[i] for i in order], scores[order]


def queries(n: int = 5) -> np.ndarray:
    return unit(np.random.default_rng(11).normal(size=(n, DIM)))


def test_search_returns_the_nearest_ids_in_order_with_inner_product_scores(
    settings: Settings, store: DocumentStore
) -> None:
    index = load(settings, store)
    assert len(index) == 7
    for query in queries():
        ids, scores = index.search(query, 4)
        want_ids, want_scores = exact_top(store, query, 4)
        assert ids.tolist() == want_ids
        np.testing.assert_allclose(scores, want_scores, atol=1e-5)


def test_both_backends_give_the_same_ids_and_scores(tmp_path: Path) -> None:
    results = {}
    for backend in BACKENDS:
        settings = Settings(data_dir=tmp_path / backend, index=IndexSettings(backend=backend))
        store = DocumentStore(settings.db_path)
        put(store, "/a.txt", np.random.default_rng(3).normal(size=(20, DIM)), ("public",))
        index = load(settings, store)
        results[backend] = [index.search(q, 5) for q in queries()]
    for (fa_ids, fa_scores), (qd_ids, qd_scores) in zip(*results.values(), strict=True):
        assert fa_ids.tolist() == qd_ids.tolist()
        np.testing.assert_allclose(fa_scores, qd_scores, atol=1e-5)


def test_upsert_of_a_held_id_replaces_its_vector(settings: Settings, store: DocumentStore) -> None:
    index = load(settings, store)
    target = int(store.chunk_ids(FP)[0])
    query = queries(1)[0]
    index.upsert(np.array([target]), query.reshape(1, -1))
    assert len(index) == 7, "replaced, not added a second time"
    ids, scores = index.search(query, 2)
    assert ids[0] == target and scores[0] == pytest.approx(1.0, abs=1e-5)
    assert target not in index.search(-query, 7)[0][:3].tolist()


def test_remove(settings: Settings, store: DocumentStore) -> None:
    index = load(settings, store)
    gone = store.chunk_ids(FP)[:2]
    assert index.remove(gone) == 2
    assert len(index) == 5
    assert sorted(index.ids().tolist()) == sorted(store.chunk_ids(FP)[2:].tolist())
    for query in queries():
        assert not set(index.search(query, 7)[0].tolist()) & set(gone.tolist())


def test_access_groups_are_filtered_in_the_backends_query(
    settings: Settings, store: DocumentStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = load(settings, store)
    calls: list[dict[str, object]] = []
    search = index.search

    def spy(query, k, allowed_ids=None, groups=None):  # type: ignore[no-untyped-def]
        calls.append({"allowed_ids": allowed_ids, "groups": groups})
        return search(query, k, allowed_ids, groups)

    monkeypatch.setattr(index, "search", spy)
    retriever = Retriever(store, EMB, lambda: index, FusionWeights({}, {}))
    hr_chunks = {
        c.id
        for d in store.list_documents()
        if "hr" in d.groups
        for c in store.chunks_for_document(d.id)
    }
    for query in queries():
        found = retriever.dense("", 7, SearchFilters(groups=("hr",)), FP, vector=query)
        assert found and {cid for cid, _ in found} <= hr_chunks
        assert len(found) == len(hr_chunks), "the backend filtered, it did not just cut"
    # Where the filter went: FAISS gets the allowed ids from SQLite, Qdrant the groups.
    if index.filters_by_groups:
        assert calls[-1] == {"allowed_ids": None, "groups": ("hr",)}
    else:
        allowed = calls[-1]["allowed_ids"]
        assert isinstance(allowed, np.ndarray) and set(allowed.tolist()) == hr_chunks
        assert calls[-1]["groups"] is None
    assert retriever.dense("", 7, SearchFilters(groups=()), FP, vector=queries(1)[0]) == []


def test_groups_and_other_filters_combine(settings: Settings, store: DocumentStore) -> None:
    index = load(settings, store)
    retriever = Retriever(store, EMB, lambda: index, FusionWeights({}, {}))
    finance = store.get_document_by_path("/finance/budget.txt")
    assert finance is not None
    filters = SearchFilters(groups=("hr",), path_prefix="/finance/")
    found = retriever.dense("", 7, filters, FP, vector=queries(1)[0])
    assert [cid for cid, _ in found] == [c.id for c in store.chunks_for_document(finance.id)]


def test_persists_across_reopen(settings: Settings, store: DocumentStore) -> None:
    index = load(settings, store)
    before = [index.search(q, 3)[0].tolist() for q in queries()]
    index.persist(store.generation)
    close_connections()  # Qdrant: a new client reads its folder back
    again, report = open_vector_store(settings, store, DIM, FP)
    assert report.action == "loaded"
    assert len(again) == 7
    assert [again.search(q, 3)[0].tolist() for q in queries()] == before


def test_catches_up_with_chunks_added_and_deleted_behind_its_back(
    settings: Settings, store: DocumentStore
) -> None:
    index = load(settings, store)
    index.persist(store.generation)
    close_connections()
    doomed = store.get_document_by_path("/public/guide.txt")
    assert doomed is not None
    store.delete_document(doomed.id)
    new_ids = put(store, "/public/new.txt", queries(2), ("public",))
    caught, report = open_vector_store(settings, store, DIM, FP)
    assert (report.action, report.added, report.removed) == ("caught_up", 2, 3)
    assert sorted(caught.ids().tolist()) == sorted(store.chunk_ids(FP).tolist())
    assert caught.search(queries(2)[1], 1)[0].tolist() == [new_ids[1]]


def test_catch_up_also_fills_holes_below_the_last_id(
    settings: Settings, store: DocumentStore
) -> None:
    """A point lost by the index alone (say, a Qdrant volume restored from a backup)
    comes back at the next catch-up."""
    index = load(settings, store)
    generation = store.generation
    lost = int(store.chunk_ids(FP)[1])
    index.remove([lost])
    index.persist(generation)
    close_connections()
    put(store, "/public/later.txt", queries(1), ("public",))
    caught, report = open_vector_store(settings, store, DIM, FP)
    assert report.action == "caught_up" and report.added == 2
    assert lost in caught.ids().tolist() and len(caught) == 8


def test_other_embedding_settings_get_a_rebuilt_index(
    settings: Settings, store: DocumentStore
) -> None:
    load(settings, store).persist(store.generation)
    close_connections()
    other = f"{EMB.fingerprint}||other-chunking"
    index, report = open_vector_store(settings, store, DIM, other)
    assert report.action == "rebuilt" and len(index) == 0, "no chunk has that fingerprint"


def test_document_groups_changed_without_re_embedding(settings: Settings, tmp_path: Path) -> None:
    """A document moved out of `hr` stops reaching hr users, in the index too."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "salaires.md").write_text(
        "# Salaires\n\nLa grille des salaires 2025 est publiée chaque année en janvier.\n"
    )
    embedder = HashingEmbedder(32)
    ingest = IngestService(settings, embedder=embedder)
    ingest.run(docs, groups=["hr", "finance"])
    calls = {"n": 0}
    original = embedder.embed_documents

    def counting(texts: list[str]) -> np.ndarray:
        calls["n"] += 1
        return original(texts)

    embedder.embed_documents = counting  # type: ignore[method-assign]
    summary = ingest.run(docs, groups=["finance"])
    assert summary.updated == 1 and calls["n"] == 0, "groups changed, nothing re-embedded"

    service = SearchService(settings, embedder=embedder)
    index = service.retriever.index()
    query = embedder.embed_query("grille des salaires")
    if index.filters_by_groups:  # the backend's own filter sees the new groups
        assert index.search(query, 5, groups=("hr",))[0].size == 0
        assert index.search(query, 5, groups=("finance",))[0].size == 1
    hr = service.search("grille des salaires", filters=SearchFilters(groups=("hr",)))
    finance = service.search("grille des salaires", filters=SearchFilters(groups=("finance",)))
    assert hr.hits == [] and len(finance.hits) == 1


def test_deleting_a_document_removes_its_points(settings: Settings, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# Cantine\n\nLa cantine est ouverte de midi à quatorze heures.\n")
    (docs / "b.md").write_text("# Parking\n\nLe parking ferme à vingt heures le vendredi soir.\n")
    ingest = IngestService(settings, embedder=HashingEmbedder(32))
    ingest.run(docs)
    doc = ingest.store.get_document_by_path(str(docs / "a.md"))
    assert doc is not None and ingest.delete_document(doc.id)
    close_connections()
    index, report = open_vector_store(settings, ingest.store, 32, ingest.fingerprint)
    assert report.action == "loaded", "ingest persisted its changes"
    assert sorted(index.ids().tolist()) == sorted(ingest.store.chunk_ids(ingest.fingerprint))


def test_new_embedding_settings_get_their_own_index(settings: Settings, tmp_path: Path) -> None:
    """A re-embedding fills an index of its own while searches still read the old one
    (with Qdrant: another collection, so neither rebuilds the other's)."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# Cantine\n\nLa cantine est ouverte de midi à quatorze heures.\n")
    old, new = HashingEmbedder(32, "old-model"), HashingEmbedder(32, "new-model")
    IngestService(settings, embedder=old).run(docs)
    reader = SearchService(settings, embedder=old)
    assert reader.search("cantine ouverte", mode="dense").hits
    IngestService(settings, embedder=new).run(docs)
    after = SearchService(settings, embedder=new)
    assert after.search("cantine ouverte", mode="dense").hits
    index = after.retriever.index()
    if isinstance(index, QdrantIndex):
        names = [c.name for c in index._conn.client.get_collections().collections]
        assert len(names) == 2 and index.collection in names


# -- end to end: hybrid search over the demo corpus -------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo corpus ingested once, with Qdrant as the index ingest writes."""
    root = tmp_path_factory.mktemp("demo")
    settings = Settings(data_dir=root / "data", index=IndexSettings(backend="qdrant"))
    ingest = IngestService(settings, embedder=HashingEmbedder(1024))
    for group, paths in write_demo_corpus(root / "docs").items():
        ingest.run(paths[0].parent, [group])
    close_connections()
    return root / "data"


def assert_same_ranking(a: list[tuple[int, float]], b: list[tuple[int, float]], what: str) -> None:
    """Same scores in the same order, and the same chunks, except that chunks tied on the
    last score shown may differ (the backends break ties their own way)."""
    assert [s for _, s in a] == [s for _, s in b], what
    last = a[-1][1] if a else None
    by_score_a = {(s, c) for c, s in a if s != last}
    by_score_b = {(s, c) for c, s in b if s != last}
    assert by_score_a == by_score_b, what


@pytest.mark.parametrize(
    "groups", [None, ("public",), ("hr",), ("finance", "public")], ids=lambda g: str(g)
)
def test_hybrid_search_gives_the_same_top_results_with_either_backend(
    demo: Path, groups: tuple[str, ...] | None
) -> None:
    services = {
        backend: SearchService(
            Settings(data_dir=demo, index=IndexSettings(backend=backend)),
            embedder=HashingEmbedder(1024),
        )
        for backend in BACKENDS
    }
    assert isinstance(services["qdrant"].retriever.index(), QdrantIndex)
    for question in (
        "congés pour le mariage du salarié",
        "budget augmentation masse salariale prime",
        "How many days of leave for a wedding?",
        "hotel travel expenses",
        "FAQ support informatique mot de passe",
    ):
        tops = {}
        for backend, service in services.items():
            result = service.search(question, k=5, filters=SearchFilters(groups=groups))
            tops[backend] = [(h.chunk.id, round(h.score, 4)) for h in result.hits]
            if groups is not None:
                assert result.hits and all(set(groups) & set(h.chunk.groups) for h in result.hits)
        assert_same_ranking(tops["faiss"], tops["qdrant"], question)
        if groups != ("hr",):
            assert tops["faiss"], question


# -- Qdrant specifics ------------------------------------------------------------------------


def qdrant_settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", index=IndexSettings(backend="qdrant"))


def test_qdrant_query_carries_a_match_any_filter_on_groups(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from qdrant_client import models

    settings = qdrant_settings(tmp_path)
    store = DocumentStore(settings.db_path)
    put(store, "/a.txt", queries(3), ("hr",))
    index = load(settings, store)
    assert isinstance(index, QdrantIndex)
    sent: list[object] = []
    client = index._conn.client
    query_points = client.query_points

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        sent.append(kwargs.get("query_filter"))
        return query_points(*args, **kwargs)

    monkeypatch.setattr(client, "query_points", spy)
    index.search(queries(1)[0], 3, groups=("hr", "public"))
    (query_filter,) = sent
    assert isinstance(query_filter, models.Filter)
    (condition,) = query_filter.must  # type: ignore[misc]
    assert condition.key == "groups"
    assert isinstance(condition.match, models.MatchAny)
    assert condition.match.any == ["hr", "public"]
    point = client.retrieve(index.collection, [int(store.chunk_ids(FP)[0])])[0]
    assert point.payload is not None and point.payload["groups"] == ["hr"]


def test_qdrant_server_collections_get_payload_indexes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from qdrant_client import QdrantClient, models

    from rag.vectors.qdrant_index import QdrantConnection

    client = QdrantClient(":memory:")
    made: list[tuple[str, object]] = []
    monkeypatch.setattr(
        client,
        "create_payload_index",
        lambda name, field, schema, wait: made.append((field, schema)),
    )
    store = DocumentStore(tmp_path / "store.sqlite3")
    conn = QdrantConnection(client, "http://qdrant:6333", remote=True)
    QdrantIndex.load(store, conn, "rag", DIM, FP)
    assert made == [
        ("groups", models.PayloadSchemaType.KEYWORD),
        ("document_id", models.PayloadSchemaType.INTEGER),
    ]
    client.close()


def test_qdrant_collection_with_other_dimension_is_rebuilt(tmp_path: Path) -> None:
    settings = qdrant_settings(tmp_path)
    store = DocumentStore(settings.db_path)
    put(store, "/a.txt", queries(3), ("public",))
    index = load(settings, store)
    assert isinstance(index, QdrantIndex)
    index.persist(store.generation)
    index._conn.client.update_collection(index.collection, metadata={"dimension": 99})
    again, report = open_vector_store(settings, store, DIM, FP)
    assert report.action == "rebuilt" and "other embedding settings" in report.reason
    assert len(again) == 3


def test_two_stores_on_one_qdrant_get_separate_collections(tmp_path: Path) -> None:
    shared = IndexSettings(backend="qdrant", qdrant_path=tmp_path / "qdrant")
    first = Settings(data_dir=tmp_path / "one", index=shared)
    second = Settings(data_dir=tmp_path / "two", index=shared)
    a, b = DocumentStore(first.db_path), DocumentStore(second.db_path)
    put(a, "/a.txt", queries(3), ("public",))
    put(b, "/b.txt", queries(2), ("public",))
    index_a, index_b = load(first, a), load(second, b)
    assert isinstance(index_a, QdrantIndex) and isinstance(index_b, QdrantIndex)
    assert index_a.collection != index_b.collection
    assert (len(index_a), len(index_b)) == (3, 2)


def test_local_storage_held_by_another_client_is_a_clear_error(tmp_path: Path) -> None:
    from qdrant_client import QdrantClient

    from rag.errors import ConfigurationError

    other = QdrantClient(path=str(tmp_path / "q"))  # as another process would hold it
    try:
        with pytest.raises(ConfigurationError, match="open in another process"):
            connect(path=tmp_path / "q")
    finally:
        other.close()


def test_missing_qdrant_client_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rag.errors import ConfigurationError

    settings = qdrant_settings(tmp_path)
    store = DocumentStore(settings.db_path)
    monkeypatch.setitem(sys.modules, "qdrant_client", None)  # import fails
    with pytest.raises(ConfigurationError, match=r"pip install -e '\.\[qdrant\]'"):
        open_vector_store(settings, store, DIM, FP)


def test_the_service_imports_without_qdrant_client() -> None:
    code = (
        "import sys, rag.retrieval.service, ingest.pipeline, rag.vectors.sync;"
        "assert 'qdrant_client' not in sys.modules"
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


def test_api_key_is_never_shown() -> None:
    settings = Settings(index=IndexSettings(qdrant_api_key="s3cret-key"))  # type: ignore[arg-type]
    assert "s3cret-key" not in repr(settings) and "s3cret-key" not in str(settings.index)
