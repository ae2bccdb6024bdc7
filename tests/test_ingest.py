from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
import pytest

from ingest.demo import write_demo_corpus
from ingest.pipeline import EXIT_OK, EXIT_SOME_FILES_FAILED, IngestService
from rag.errors import RagError, StoreLockedError
from rag.settings import IngestSettings, Settings
from rag.store import writer_lock
from rag.vectors.faiss_index import INDEX_FILE, VectorIndex
from tests.fakes import HashingEmbedder
from tests.files import (
    HTML_PAGE,
    make_docx,
    make_encrypted_pdf,
    make_pdf,
    make_scanned_pdf,
    release_fifo,
)


class CountingEmbedder(HashingEmbedder):
    """Counts the texts it embeds, to prove what was (not) re-embedded."""

    def __init__(self, dimension: int = 32, name: str = "hashing") -> None:
        super().__init__(dimension, name)
        self.embedded: list[str] = []

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        self.embedded.extend(texts)
        return super().embed_documents(texts)


def write_corpus(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    make_pdf(
        folder / "handbook.pdf",
        [
            "Annual leave is 25 working days.",
            "Remote work is two days a week.",
            "Mutual insurance.",
        ],
        title="Handbook",
    )
    make_docx(folder / "travel.docx", [("h1", "Travel"), ("p", "Trains are second class.")])
    (folder / "faq.html").write_text(HTML_PAGE, encoding="utf-8")
    (folder / "notes.md").write_text("# Notes\n\nLe comité social se réunit chaque mois.\n")
    (folder / "plain.txt").write_text("Les tickets restaurant valent neuf euros.\n")
    (folder / "ignored.png").write_bytes(b"\x89PNG")
    return folder


@pytest.fixture
def service(settings: Settings) -> IngestService:
    return IngestService(settings, embedder=CountingEmbedder())


def chunk_ids_in_index(service: IngestService) -> list[int]:
    index, _ = VectorIndex.load(
        service.store, service.settings.index_dir, service.embedder.dimension, service.fingerprint
    )
    return sorted(index.ids().tolist())


def test_first_ingest_adds_everything(service: IngestService, tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "docs")
    summary = service.run(corpus, groups=["hr", "finance"])
    assert (summary.added, summary.failed, summary.exit_code) == (5, [], EXIT_OK)
    docs = service.store.list_documents()
    assert {Path(d.path).name for d in docs} == {
        "handbook.pdf",
        "travel.docx",
        "faq.html",
        "notes.md",
        "plain.txt",
    }
    assert all(d.groups == ("finance", "hr") for d in docs)
    handbook = next(d for d in docs if d.path.endswith("handbook.pdf"))
    assert handbook.pages == 3 and handbook.title == "Handbook"
    assert len(handbook.sha256) == 64
    # Every stored chunk is in the saved index, and the job is recorded.
    assert chunk_ids_in_index(service) == sorted(service.store.chunk_ids(service.fingerprint))
    job = service.store.jobs.get(summary.job_id)
    assert job is not None
    assert job.status == "succeeded" and job.counts["added"] == 5


def test_second_run_skips_unchanged_files_without_embedding(
    service: IngestService, tmp_path: Path
) -> None:
    corpus = write_corpus(tmp_path / "docs")
    service.run(corpus)
    embedded_before = len(service.embedder.embedded)
    generation = service.store.generation
    summary = service.run(corpus)
    assert (summary.unchanged, summary.added, summary.updated) == (5, 0, 0)
    assert len(service.embedder.embedded) == embedded_before
    assert service.store.generation == generation


def test_copied_corpus_is_ingested_and_reported_as_duplicates(
    service: IngestService, tmp_path: Path
) -> None:
    # The same files under another path (a moved mount, a copy in another group's folder)
    # are separate documents, but the admin is told, since both copies now compete in
    # retrieval.
    corpus = write_corpus(tmp_path / "docs")
    service.run(corpus)
    copy = Path(shutil.copytree(corpus, tmp_path / "copy"))
    summary = service.run(copy, groups=["hr"])
    assert (summary.added, summary.duplicates) == (5, 5)
    assert summary.counts()["duplicates"] == 5
    (notice,) = summary.notices
    assert notice.startswith("5 new files have the same content as documents already stored")
    assert str(tmp_path / "docs") in notice and "rag documents delete" in notice
    # A re-run of the copy is plain idempotence, with nothing to report.
    again = service.run(copy, groups=["hr"])
    assert (again.unchanged, again.duplicates, again.notices) == (5, 0, [])


def test_changed_file_replaces_its_chunks(service: IngestService, tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "docs")
    service.run(corpus)
    old = service.store.get_document_by_path(str(corpus / "notes.md"))
    old_chunks = [c.id for c in service.store.chunks_for_document(old.id)]
    (corpus / "notes.md").write_text("# Notes\n\nLa cantine ferme à quatorze heures.\n")
    service.embedder.embedded.clear()
    summary = service.run(corpus)
    assert (summary.updated, summary.unchanged) == (1, 4)
    assert service.embedder.embedded == ["# Notes\n\nLa cantine ferme à quatorze heures."]
    new = service.store.get_document_by_path(str(corpus / "notes.md"))
    assert new.id == old.id and new.sha256 != old.sha256
    ids = chunk_ids_in_index(service)
    assert not set(old_chunks) & set(ids)
    assert sorted(ids) == sorted(service.store.chunk_ids(service.fingerprint))


def test_groups_change_without_reembedding(service: IngestService, tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "docs")
    service.run(corpus)
    assert service.store.list_documents()[0].groups == ("public",), "default group"
    service.embedder.embedded.clear()
    summary = service.run(corpus, groups=["hr"])
    assert summary.updated == 5 and service.embedder.embedded == []
    assert {d.groups for d in service.store.list_documents()} == {("hr",)}
    service.run(corpus)  # no --groups: existing groups are kept
    assert {d.groups for d in service.store.list_documents()} == {("hr",)}


def test_prune_removes_documents_whose_file_is_gone(service: IngestService, tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "docs")
    other = write_corpus(tmp_path / "other")
    service.run(corpus)
    service.run(other)
    (corpus / "plain.txt").unlink()
    summary = service.run(corpus)
    assert summary.missing == 1 and summary.removed == 0
    assert service.store.count_documents() == 10
    summary = service.run(corpus, prune=True)
    assert summary.removed == 1 and summary.missing == 0
    assert service.store.get_document_by_path(str(corpus / "plain.txt")) is None
    assert service.store.count_documents() == 9, "documents of other folders are kept"
    assert sorted(chunk_ids_in_index(service)) == sorted(
        service.store.chunk_ids(service.fingerprint)
    )


def test_model_change_is_detected_and_everything_reembedded(
    settings: Settings, tmp_path: Path
) -> None:
    corpus = write_corpus(tmp_path / "docs")
    elsewhere = write_corpus(tmp_path / "elsewhere")
    IngestService(settings, embedder=CountingEmbedder(32, "model-a")).run(corpus)
    IngestService(settings, embedder=CountingEmbedder(32, "model-a")).run(elsewhere)
    new_model = CountingEmbedder(48, "model-b")
    service = IngestService(settings, embedder=new_model)
    summary = service.run(corpus)
    assert any("re-embedding 10 documents" in n for n in summary.notices)
    # The folder's files are re-parsed; the other folder's documents are re-embedded
    # from their stored text, with no need for their files.
    assert summary.updated == 10 and summary.unchanged == 0
    assert not service.store.stale_documents(service.fingerprint)
    assert service.store.get_meta("fingerprint") == service.fingerprint
    assert len(chunk_ids_in_index(service)) == service.store.count_chunks()
    assert service.run(corpus).unchanged == 5


def test_bad_files_fail_alone_and_leave_no_trace(settings: Settings, tmp_path: Path) -> None:
    settings.ingest = IngestSettings(max_file_mb=0.5, embed_window=64)
    service = IngestService(settings, embedder=CountingEmbedder())
    corpus = write_corpus(tmp_path / "docs")
    bad = corpus / "bad"
    bad.mkdir()
    make_encrypted_pdf(bad / "encrypted.pdf", user_password="s3cret")
    (bad / "fake.pdf").write_text(HTML_PAGE)
    full = make_pdf(bad / "full.pdf", ["Truncated text. " * 40] * 3).read_bytes()
    (bad / "full.pdf").unlink()
    (bad / "truncated.pdf").write_bytes(full[: len(full) // 3])
    (bad / "empty.txt").write_bytes(b"")
    make_scanned_pdf(bad / "scanned.pdf")
    (bad / "huge.txt").write_bytes(b"word " * 200_000)
    (bad / "corrupt.docx").write_bytes(b"PK\x03\x04" + b"\x00junk" * 50)
    summary = service.run(corpus)
    reasons = {Path(p).name: r for p, r in summary.failed}
    assert reasons["encrypted.pdf"] == "encrypted PDF, no password"
    assert reasons["fake.pdf"].startswith("not a PDF despite the .pdf name")
    assert "corrupt or truncated PDF" in reasons["truncated.pdf"] or (
        "no extractable text" in reasons["truncated.pdf"]
    )
    assert reasons["empty.txt"] == "empty file"
    assert reasons["scanned.pdf"] == "no extractable text (scanned?)"
    assert reasons["huge.txt"] == "over the 0.5 MB limit (1.0 MB)"
    assert "DOCX" in reasons["corrupt.docx"]
    assert summary.added == 5 and summary.exit_code == EXIT_SOME_FILES_FAILED
    stored = {Path(d.path).name for d in service.store.list_documents()}
    assert not stored & set(reasons), "a failed file leaves nothing in the store"
    assert {Path(f["path"]).name for f in service.store.list_failures()} == set(reasons)
    job = service.store.jobs.get(summary.job_id)
    assert job is not None and job.status == "partial"

    # Second run: only the failed files are tried again; fix one and it goes in.
    (bad / "empty.txt").write_text("Le parking est gratuit pour les salariés du site.")
    service.embedder.embedded.clear()
    again = service.run(corpus)
    assert again.unchanged == 5 and again.added == 1 and len(again.failed) == 6
    assert service.embedder.embedded == ["Le parking est gratuit pour les salariés du site."]
    assert "empty.txt" not in {Path(f["path"]).name for f in service.store.list_failures()}


def test_a_parser_that_runs_too_long_is_killed(settings: Settings, tmp_path: Path) -> None:
    settings.ingest = IngestSettings(parse_timeout_s=0.5, max_file_mb=100, embed_window=64)
    service = IngestService(settings, embedder=CountingEmbedder())
    folder = tmp_path / "docs"
    folder.mkdir()
    # Tokenizing 40 MB of text takes far longer than half a second.
    (folder / "slow.txt").write_text("Paragraphe de texte assez long pour le tokenizer. " * 800_000)
    (folder / "ok.md").write_text("# Fine\n\nCe fichier passe sans souci.")
    summary = service.run(folder)
    assert summary.failed == [(str(folder / "slow.txt"), "parser timed out after 0.5 s")]
    assert summary.added == 1


def test_a_parser_over_its_memory_limit_fails_alone(settings: Settings, tmp_path: Path) -> None:
    settings.ingest = IngestSettings(parse_memory_mb=256, max_file_mb=200, embed_window=64)
    service = IngestService(settings, embedder=CountingEmbedder())
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "big.txt").write_bytes(("é" * 99 + "\n").encode() * 600_000)  # 120 MB of text
    (folder / "ok.md").write_text("# Fine\n\nCe fichier passe sans souci.")
    summary = service.run(folder)
    assert len(summary.failed) == 1
    path, reason = summary.failed[0]
    assert path.endswith("big.txt")
    assert reason.startswith(("parser ran out of memory", "parser crashed"))
    assert summary.added == 1


T = TypeVar("T")


def within(seconds: float, job: Callable[[], T]) -> T:
    """`job()`, failing the test if it has not returned after `seconds` (it runs in a
    daemon thread, so a job stuck on a FIFO or /dev/zero cannot hang the suite)."""
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["value"] = job()
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s: it hangs"
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]


def hostile_folder(tmp_path: Path) -> tuple[Path, Path]:
    """A folder with good files and every way out: links to a file and a folder
    outside it, to /etc/passwd and /dev/zero, a dangling link, and a FIFO."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.md").write_text("# Coffre\n\nLe code du coffre-fort est 4711 4711.\n")
    docs = tmp_path / "docs"
    (docs / "sub").mkdir(parents=True)
    (docs / "good.md").write_text("# Parking\n\nLe parking du siege ouvre a 7 h pour tous.\n")
    (docs / "sub" / "inside.md").write_text("# Cantine\n\nLa cantine ouvre a midi pour tous.\n")
    (docs / "inside-link.md").symlink_to(docs / "sub" / "inside.md")  # stays inside: followed
    (docs / "secret.md").symlink_to(outside / "secret.md")
    (docs / "outdir").symlink_to(outside, target_is_directory=True)
    (docs / "passwd.txt").symlink_to("/etc/passwd")
    (docs / "zero.txt").symlink_to("/dev/zero")
    (docs / "dangling.md").symlink_to(docs / "nowhere.md")
    fifo = docs / "pipe.md"
    os.mkfifo(fifo)
    return docs, fifo


def test_links_out_of_the_folder_and_special_files_fail_alone(
    service: IngestService, tmp_path: Path
) -> None:
    """Nothing outside the folder being ingested is read, and a FIFO or a device never
    blocks the job (which holds the writer lock): each fails alone with its reason."""
    docs, fifo = hostile_folder(tmp_path)
    try:
        summary = within(20, lambda: service.run(docs, groups=["public"]))
    finally:
        release_fifo(fifo)
    reasons = {Path(p).name: r for p, r in summary.failed}
    assert reasons.keys() == {"secret.md", "passwd.txt", "zero.txt", "dangling.md", "pipe.md"}
    for name in ("secret.md", "passwd.txt", "zero.txt"):
        assert reasons[name].startswith("a link to a file outside"), reasons[name]
    assert reasons["pipe.md"] == "not a regular file (a FIFO): skipped"
    assert "cannot read" in reasons["dangling.md"]
    stored = {Path(d.path).name: d for d in service.store.list_documents()}
    assert stored.keys() == {"good.md", "inside.md", "inside-link.md"}
    texts = " ".join(service.store.document_text(d.id) or "" for d in stored.values())
    assert "4711" not in texts and "root:" not in texts
    assert summary.exit_code == EXIT_SOME_FILES_FAILED


def test_a_file_swapped_after_its_check_is_not_stored(
    service: IngestService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between the job's check and the parser's read, a file replaced by a link out of
    the folder, or by other content, fails: what is stored is what was checked."""
    from ingest.sandbox import ParserPool

    docs, fifo = hostile_folder(tmp_path)
    fifo.unlink()  # blocking is another test's matter
    (docs / "zero.txt").unlink()
    swap = {
        docs / "good.md": lambda p: (p.unlink(), p.symlink_to(tmp_path / "outside" / "secret.md")),
        docs / "sub" / "inside.md": lambda p: p.write_text("# Autre\n\nUn tout autre texte ici.\n"),
    }
    submit = ParserPool.submit

    def swapping(self, path, *args, **kwargs):  # type: ignore[no-untyped-def]
        if Path(path) in swap:
            swap.pop(Path(path))(Path(path))
        return submit(self, path, *args, **kwargs)

    monkeypatch.setattr(ParserPool, "submit", swapping)
    summary = within(20, lambda: service.run(docs, groups=["public"]))
    reasons = {Path(p).name: r for p, r in summary.failed}
    assert reasons["good.md"].startswith("a link to a file outside")
    assert reasons["inside.md"] == "the file changed while it was ingested: run again"
    texts = " ".join(
        service.store.document_text(d.id) or "" for d in service.store.list_documents()
    )
    assert "4711" not in texts and "tout autre" not in texts


def test_hashing_reads_no_more_than_the_size_limit(tmp_path: Path) -> None:
    """A file's size is checked as it is read, not only from its metadata (which a
    growing file or a special file system can belie): reading stops past the limit."""
    from ingest.files import FileTooLarge, hash_limited

    class Endless:
        read_bytes = 0

        def read(self, n: int) -> bytes:
            self.read_bytes += n
            return b"\0" * n

    endless = Endless()
    with pytest.raises(FileTooLarge):
        within(5, lambda: hash_limited(endless, max_bytes=3_000_000))  # type: ignore[arg-type]
    assert endless.read_bytes <= 3_000_001
    small = tmp_path / "small.txt"
    small.write_bytes(b"x" * 10)
    with small.open("rb") as fh:
        assert hash_limited(fh, max_bytes=10)[0] == 10
    with small.open("rb") as fh, pytest.raises(FileTooLarge):
        hash_limited(fh, max_bytes=9)


def test_index_is_rebuilt_when_its_file_is_deleted(service: IngestService, tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "docs")
    service.run(corpus)
    expected = chunk_ids_in_index(service)
    (service.settings.index_dir / INDEX_FILE).unlink()
    assert chunk_ids_in_index(service) == expected
    service.run(corpus)  # the writer saves a sound index again
    assert (service.settings.index_dir / INDEX_FILE).exists()


def test_second_writer_is_refused(service: IngestService, tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "docs")
    with writer_lock(service.settings.data_dir), pytest.raises(StoreLockedError):
        service.run(corpus)


def test_missing_or_empty_folder_is_a_clear_error(service: IngestService, tmp_path: Path) -> None:
    with pytest.raises(RagError, match="does not exist"):
        service.run(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RagError, match="No supported files"):
        service.run(tmp_path / "empty")


def test_two_data_dirs_are_two_stores(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "docs")
    a = IngestService(Settings(data_dir=tmp_path / "a"), embedder=CountingEmbedder())
    b = IngestService(Settings(data_dir=tmp_path / "b"), embedder=CountingEmbedder())
    a.run(corpus)
    assert a.store.count_documents() == 5 and b.store.count_documents() == 0


def test_delete_document_removes_it_from_the_index(service: IngestService, tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "docs")
    service.run(corpus)
    doc = service.store.list_documents()[0]
    chunks = {c.id for c in service.store.chunks_for_document(doc.id)}
    assert service.delete_document(doc.id) is True
    assert not chunks & set(chunk_ids_in_index(service))
    assert service.delete_document(doc.id) is False


def test_spf_sample_from_shared_datasets(
    service: IngestService, datasets: Path, tmp_path: Path
) -> None:
    corpus = tmp_path / "spf"
    corpus.mkdir()
    for source in sorted((datasets / "spf" / "corpus").glob("F1*.txt"))[:25]:
        shutil.copy(source, corpus / source.name)  # links out of the folder are refused
    summary = service.run(corpus)
    assert summary.added == 25 and not summary.failed
    for doc in service.store.list_documents():
        text = service.store.document_text(doc.id)
        for chunk in service.store.chunks_for_document(doc.id):
            assert text[chunk.start : chunk.end] == chunk.text


def test_the_demo_documents_are_written_the_same_each_time(tmp_path: Path) -> None:
    """`make serve` runs `rag demo` at each start: with the time of writing inside the
    PDF and the DOCX, two documents were "updated" and embedded again every time."""
    first = {
        p.name: p.read_bytes() for ps in write_demo_corpus(tmp_path / "a").values() for p in ps
    }
    again = {
        p.name: p.read_bytes() for ps in write_demo_corpus(tmp_path / "b").values() for p in ps
    }
    assert {"livret-accueil.pdf", "expense-policy.docx"} <= set(first)
    assert first == again
