"""`rag index migrate`: FAISS <-> Qdrant from the stored embeddings, run through typer's
CliRunner as an admin would, with Qdrant in local mode."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from rag import embedding
from rag.cli.index import register
from rag.retrieval.service import SearchService
from rag.settings import IndexSettings, Settings
from rag.store import DocumentStore
from rag.vectors.faiss_index import MANIFEST_FILE, VectorIndex
from tests.fakes import HashingEmbedder
from tests.test_vector_contract import DIM, FP, put, queries

pytest.importorskip("qdrant_client")
from rag.vectors.qdrant_index import QdrantIndex, close_connections, connect


@pytest.fixture(autouse=True)
def _close_qdrant_clients() -> Iterator[None]:
    yield
    close_connections()


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A store of 25 embedded chunks, its FAISS index saved, and no embedder allowed."""
    data = tmp_path / "data"
    monkeypatch.setenv("RAG_DATA_DIR", str(data))
    monkeypatch.delenv("RAG_INDEX__QDRANT_URL", raising=False)
    store = DocumentStore(data / "store.sqlite3")
    rng = np.random.default_rng(5)
    put(store, "/hr/pay.txt", rng.normal(size=(10, DIM)), ("hr",))
    put(store, "/public/guide.txt", rng.normal(size=(15, DIM)), ("public",))
    store.set_meta("fingerprint", FP)
    index, _ = VectorIndex.load(store, data / "index", DIM, FP)
    index.save(data / "index", store.generation)

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("the migration ran the embedder")

    monkeypatch.setattr(embedding, "create_embedder", never)
    monkeypatch.setattr(HashingEmbedder, "embed_documents", never)
    monkeypatch.setattr(HashingEmbedder, "embed_query", never)
    monkeypatch.setattr(embedding.SentenceTransformerEmbedder, "__init__", never)
    return data


def run(app: typer.Typer, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["index", "migrate", *args])
    return result.exit_code, result.output


def qdrant_index(data: Path, path: Path) -> QdrantIndex:
    store = DocumentStore(data / "store.sqlite3")
    return QdrantIndex.for_store(store, connect(path=path), "rag_chunks", DIM, FP)


def test_migrate_to_qdrant_copies_without_re_embedding(app: typer.Typer, data_dir: Path) -> None:
    target = data_dir.parent / "qdrant"
    code, output = run(app, "--to", "qdrant", "--path", str(target))
    assert code == 0, output
    assert "Copied 25 stored embeddings" in output and "count checked" in output
    assert "RAG_INDEX__BACKEND=qdrant" in output
    assert f"RAG_INDEX__QDRANT_PATH={target}" in output
    assert "RAG_INDEX__QDRANT_COLLECTION=rag_chunks" in output
    index = qdrant_index(data_dir, target)
    assert len(index) == 25 and index.saved_state()[0] == ""
    store = DocumentStore(data_dir / "store.sqlite3")
    faiss_index, _ = VectorIndex.load(store, data_dir / "index", DIM, FP)
    for query in queries():
        q_ids, q_scores = index.search(query, 5)
        f_ids, f_scores = faiss_index.search(query, 5)
        assert q_ids.tolist() == f_ids.tolist()
        np.testing.assert_allclose(q_scores, f_scores, atol=1e-5)
    hr = {c.id for c in store.chunks_for_document(1)}
    assert set(index.search(queries(1)[0], 25, groups=("hr",))[0].tolist()) == hr


def test_migrate_again_is_idempotent_and_drops_stale_points(
    app: typer.Typer, data_dir: Path
) -> None:
    target = data_dir.parent / "qdrant"
    assert run(app, "--to", "qdrant", "--path", str(target))[0] == 0
    close_connections()
    code, output = run(app, "--to", "qdrant", "--path", str(target))
    assert code == 0 and "Copied 25" in output and "stale" not in output
    close_connections()
    store = DocumentStore(data_dir / "store.sqlite3")
    doc = store.get_document_by_path("/hr/pay.txt")
    assert doc is not None
    store.delete_document(doc.id)  # behind the index's back
    code, output = run(app, "--to", "qdrant", "--path", str(target))
    assert code == 0 and "Copied 15" in output and "removed 10 stale points" in output
    assert len(qdrant_index(data_dir, target)) == 15


def test_the_service_searches_the_migrated_collection(
    app: typer.Typer, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = data_dir.parent / "qdrant"
    assert run(app, "--to", "qdrant", "--path", str(target))[0] == 0
    monkeypatch.undo()  # the service may embed queries again
    settings = Settings(
        data_dir=data_dir, index=IndexSettings(backend="qdrant", qdrant_path=target)
    )
    service = SearchService(settings, embedder=HashingEmbedder(DIM))
    index = service.retriever.index()
    assert isinstance(index, QdrantIndex) and len(index) == 25


def test_migrate_back_to_faiss_rebuilds_the_file(app: typer.Typer, data_dir: Path) -> None:
    (data_dir / "index" / MANIFEST_FILE).unlink()
    code, output = run(app, "--to", "faiss")
    assert code == 0, output
    assert "RAG_INDEX__BACKEND=faiss" in output and "the FAISS index" in output
    manifest = json.loads((data_dir / "index" / MANIFEST_FILE).read_text())
    assert manifest["ntotal"] == 25 and manifest["fingerprint"] == FP
    assert run(app, "--to", "faiss")[0] == 0, "idempotent"


@pytest.mark.filterwarnings("ignore:Api key is used with an insecure connection")
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--to", "milvus"], "unknown target 'milvus': use --to qdrant or --to faiss"),
        (["--to", "qdrant", "--url", "http://127.0.0.1:9", "--path", "x"], "not both"),
        (["--to", "faiss", "--url", "http://127.0.0.1:9"], "are for --to qdrant"),
        (["--to", "qdrant", "--url", "http://127.0.0.1:9"], "Qdrant at http://127.0.0.1:9 failed"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(
    app: typer.Typer,
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    message: str,
) -> None:
    monkeypatch.setenv("RAG_INDEX__QDRANT_API_KEY", "s3cret-key")
    code, output = run(app, *args)
    assert code == 1
    assert message in output
    assert len(output.strip().splitlines()) == 1, output
    assert "Traceback" not in output and "s3cret-key" not in output


def test_a_store_with_nothing_embedded_is_refused(
    app: typer.Typer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path / "nowhere"))
    code, output = run(app, "--to", "qdrant")
    assert code == 1 and "no store at" in output
    DocumentStore(tmp_path / "nowhere" / "store.sqlite3")
    code, output = run(app, "--to", "qdrant")
    assert code == 1 and "run `rag ingest` first" in output
