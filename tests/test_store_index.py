from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rag.errors import StoreLockedError
from rag.store import DocumentStore, writer_lock
from rag.types import ChunkDraft, NewDocument, PageSpan
from rag.vectors.faiss_index import INDEX_FILE, MANIFEST_FILE, VectorIndex
from tests.fakes import HashingEmbedder

EMB = HashingEmbedder(dimension=16)
FP = EMB.fingerprint


def new_doc(path: str, texts: list[str], groups=("public",), fp: str = FP):
    text = "\n\n".join(texts)
    chunks, offset = [], 0
    for i, t in enumerate(texts):
        chunks.append(ChunkDraft(t, offset, offset + len(t), i + 1, i + 1, "", 3))
        offset += len(t) + 2
    doc = NewDocument(
        path=path,
        sha256="x" * 64,
        title=path,
        mime="text/plain",
        groups=tuple(groups),
        text=text,
        pages=tuple(PageSpan(c.page_start, c.start, c.end) for c in chunks),
        size_bytes=len(text),
        fingerprint=fp,
    )
    return doc, chunks, EMB.embed_documents(texts)


def fts(store: DocumentStore, query: str) -> list[int]:
    rows = store._conn.execute(
        "SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH ?", (query,)
    ).fetchall()
    return sorted(r[0] for r in rows)


@pytest.fixture
def store(tmp_path: Path) -> DocumentStore:
    return DocumentStore(tmp_path / "store.sqlite3")


def test_put_replace_delete_keep_fts_in_step(store: DocumentStore) -> None:
    doc_id, removed, added = store.put_document(*new_doc("/a.txt", ["congés payés", "télétravail"]))
    assert removed == [] and len(added) == 2
    assert fts(store, "conges") == [added[0]], "diacritics are folded for French"
    _, removed2, added2 = store.put_document(*new_doc("/a.txt", ["mutuelle santé"]))
    assert removed2 == added and min(added2) > max(added), "chunk ids are never reused"
    assert fts(store, "conges") == []
    assert fts(store, "mutuelle") == added2
    doc = store.get_document(doc_id)
    assert doc is not None and doc.chunks == 1 and doc.pages == 1
    assert store.delete_document(doc_id) == added2
    assert fts(store, "mutuelle") == [] and store.count_chunks() == 0


def test_term_counts_follow_the_chunks(store: DocumentStore) -> None:
    """How many chunks hold a token (exact) or a token with a prefix (the stem BM25
    searches), kept in step with every change like the index BM25 reads."""
    store.put_document(
        *new_doc("/a.txt", ["Le mariage donne 5 jours.", "Les mariages civils.", "Le PACS."])
    )
    store.put_document(*new_doc("/b.txt", ["Congé de mariage"]))
    counts, total = store.term_chunk_counts([("mariage", False), ("mariag", True), ("pacs", False)])
    assert counts == {"mariage": 2, "mariag": 3, "pacs": 1} and total == 4
    assert store.term_chunk_counts([("presidentielle", False), ("zz", True)])[0] == {
        "presidentielle": 0,
        "zz": 0,
    }
    assert store.term_chunk_counts([("", True)])[0][""] <= total, "capped"
    [doc] = [d for d in store.list_documents() if d.path == "/b.txt"]
    store.delete_document(doc.id)
    assert store.term_chunk_counts([("mariage", False)]) == ({"mariage": 1}, 3)


def test_term_counts_for_some_groups_say_nothing_of_the_others(store: DocumentStore) -> None:
    """Counted for a caller's groups, a word found only in a document of another group
    is found nowhere: its rarity, and the answerability coverage shown from it, cannot
    tell the caller that such a document exists."""
    store.put_document(*new_doc("/public.txt", ["Le mariage donne 5 jours."]))
    store.put_document(*new_doc("/hr.txt", ["Projet Zeus : plan social.", "Zeus."], groups=["hr"]))
    terms = [("zeus", False), ("mariag", True)]
    assert store.term_chunk_counts(terms) == ({"zeus": 2, "mariag": 1}, 3)
    assert store.term_chunk_counts(terms, ["public"]) == ({"zeus": 0, "mariag": 1}, 1)
    assert store.term_chunk_counts(terms, ["hr"]) == ({"zeus": 2, "mariag": 0}, 2)
    assert store.term_chunk_counts(terms, []) == ({"zeus": 0, "mariag": 0}, 0), "no group: none"


def test_transaction_is_all_or_nothing(store: DocumentStore) -> None:
    before = store.generation
    with pytest.raises(RuntimeError), store.transaction():
        store.put_document(*new_doc("/a.txt", ["premier document"]))
        store.put_document(*new_doc("/b.txt", ["second document"]))
        raise RuntimeError("crash before commit")
    assert store.count_documents() == 0 and fts(store, "document") == []
    assert store.generation == before
    with store.transaction():
        store.put_document(*new_doc("/a.txt", ["premier document"]))
    assert store.generation == before + 1


def test_groups_are_stored_and_updated(store: DocumentStore) -> None:
    doc_id, _, _ = store.put_document(*new_doc("/a.txt", ["x y z"], groups=("hr", "finance")))
    assert store.get_document(doc_id).groups == ("finance", "hr")
    store.set_groups(doc_id, ["public"])
    assert store.get_document(doc_id).groups == ("public",)
    rows = store._conn.execute("SELECT grp FROM document_groups WHERE document_id = ?", (doc_id,))
    assert [r[0] for r in rows] == ["public"]


def test_writer_lock_is_exclusive(tmp_path: Path) -> None:
    with (
        writer_lock(tmp_path),
        pytest.raises(StoreLockedError, match="Another ingest job"),
        writer_lock(tmp_path),
    ):
        pass
    with writer_lock(tmp_path):  # released
        pass


def test_a_reader_sees_documents_only_after_commit(store: DocumentStore, tmp_path: Path) -> None:
    reader = DocumentStore(tmp_path / "store.sqlite3")
    with store.transaction():
        store.put_document(*new_doc("/a.txt", ["visible later"]))
        assert reader.count_documents() == 0, "WAL: the reader is not blocked and sees nothing"
    assert reader.count_documents() == 1


# -- the FAISS index ------------------------------------------------------------------------


def fill(store: DocumentStore, n: int) -> None:
    for i in range(n):
        store.put_document(*new_doc(f"/doc{i}.txt", [f"document {i} about topic{i}"]))


def search_ids(index: VectorIndex, text: str, k: int = 3) -> list[int]:
    ids, _ = index.search(EMB.embed_query(text), k)
    return ids.tolist()


def test_index_saves_and_loads(store: DocumentStore, tmp_path: Path) -> None:
    fill(store, 5)
    index, report = VectorIndex.load(store, tmp_path / "idx", 16, FP)
    assert report.action == "rebuilt" and len(index) == 5
    index.save(tmp_path / "idx", store.generation)
    again, report = VectorIndex.load(store, tmp_path / "idx", 16, FP)
    assert report.action == "loaded" and len(again) == 5
    assert search_ids(again, "topic3")[0] == search_ids(index, "topic3")[0]
    manifest = json.loads((tmp_path / "idx" / MANIFEST_FILE).read_text())
    assert manifest["ntotal"] == 5 and manifest["fingerprint"] == FP


@pytest.mark.parametrize("damage", ["delete_index", "corrupt_index", "truncate", "bad_manifest"])
def test_index_rebuilt_after_damage(store: DocumentStore, tmp_path: Path, damage: str) -> None:
    fill(store, 4)
    directory = tmp_path / "idx"
    index, _ = VectorIndex.load(store, directory, 16, FP)
    index.save(directory, store.generation)
    expected = search_ids(index, "topic2")
    index_file, manifest = directory / INDEX_FILE, directory / MANIFEST_FILE
    if damage == "delete_index":
        index_file.unlink()
    elif damage == "corrupt_index":
        data = bytearray(index_file.read_bytes())
        data[len(data) // 2] ^= 0xFF
        index_file.write_bytes(bytes(data))
    elif damage == "truncate":
        index_file.write_bytes(index_file.read_bytes()[:100])
    else:
        manifest.write_text("{not json")
    rebuilt, report = VectorIndex.load(store, directory, 16, FP)
    assert report.action == "rebuilt"
    assert len(rebuilt) == 4 and search_ids(rebuilt, "topic2") == expected


def test_index_from_other_model_is_rebuilt(store: DocumentStore, tmp_path: Path) -> None:
    fill(store, 2)
    index, _ = VectorIndex.load(store, tmp_path, 16, FP)
    index.save(tmp_path, store.generation)
    _, report = VectorIndex.load(store, tmp_path, 16, "other-model|dim=16")
    assert report.action == "rebuilt" and "other embedding settings" in report.reason


def test_stale_index_catches_up_without_rebuild(store: DocumentStore, tmp_path: Path) -> None:
    fill(store, 3)
    index, _ = VectorIndex.load(store, tmp_path, 16, FP)
    index.save(tmp_path, store.generation)
    gone = store.get_document_by_path("/doc0.txt")
    store.delete_document(gone.id)
    store.put_document(*new_doc("/new.txt", ["brand new topic99 document"]))
    caught, report = VectorIndex.load(store, tmp_path, 16, FP)
    assert report.action == "caught_up" and report.added == 1 and report.removed == 1
    assert sorted(caught.ids().tolist()) == sorted(store.chunk_ids(FP).tolist())
    assert (
        search_ids(caught, "brand new topic99 document", k=1) == store.chunk_ids(FP)[-1:].tolist()
    )


def test_search_within_allowed_ids(store: DocumentStore, tmp_path: Path) -> None:
    fill(store, 6)
    index, _ = VectorIndex.load(store, tmp_path, 16, FP)
    allowed = np.array([1, 2], dtype=np.int64)
    ids, _ = index.search(EMB.embed_query("topic5"), 5, allowed_ids=allowed)
    assert set(ids.tolist()) <= {1, 2}
    ids, _ = index.search(EMB.embed_query("topic5"), 5, allowed_ids=np.array([], dtype=np.int64))
    assert ids.size == 0


def test_no_pickle_in_saved_index(store: DocumentStore, tmp_path: Path) -> None:
    fill(store, 2)
    index, _ = VectorIndex.load(store, tmp_path, 16, FP)
    index.save(tmp_path, store.generation)
    assert not list(tmp_path.glob("*.pkl"))
    assert (tmp_path / INDEX_FILE).read_bytes()[:4] in (b"IxM2", b"IxMp")
