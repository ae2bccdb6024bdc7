"""Crash safety: `rag ingest` killed with SIGKILL in every phase of its work, starved of
disk, and restarted over a damaged vector index. After each: SQLite passes its
integrity check, the FAISS index (once loaded) holds exactly the store's chunk ids,
every document is wholly its old version, wholly its new one or absent, and a run
afterwards converges on the state a crash-free run reaches.

The ingest runs in a child process (tests/ingest_child.py: the real `rag ingest` with
the tests' HashingEmbedder). The default suite kills it in three phases; the `soak`
run (`pytest -m soak tests/test_crash_safety.py`) makes RAG_SOAK_TRIALS (default 26)
kills, in every phase at random points and at random moments. docs/reliability.md
has the figures.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
import resource
import shutil
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from ingest.chunking import Chunker
from ingest.loaders import kind_for, load_bytes
from ingest.pipeline import IngestService
from rag.errors import StoreWriteError
from rag.retrieval.service import SearchService
from rag.settings import IngestSettings, Settings
from rag.store import DocumentStore
from rag.vectors.faiss_index import INDEX_FILE, VectorIndex
from tests import ingest_child
from tests.fakes import HashingEmbedder
from tests.files import make_docx, make_pdf

DIM = 32
WINDOW = 8  # chunks per encoder call and transaction: several windows per run
KINDS = (".md", ".txt", ".html", ".pdf", ".docx")
WORDS = (
    "congé salaire télétravail mutuelle parking cantine badge réunion formation "
    "annual leave payroll remote insurance expense travel hotel train laptop "
    "security password onboarding manager contract overtime holiday"
).split()


def paragraphs(seed: str, n: int) -> list[str]:
    rng = random.Random(seed)
    return [
        " ".join(rng.choice(WORDS) for _ in range(rng.randint(40, 90))).capitalize() + "."
        for _ in range(n)
    ]


def write_document(path: Path, title: str, paras: list[str]) -> None:
    suffix = path.suffix
    if suffix == ".md":
        path.write_text(f"# {title}\n\n" + "\n\n".join(paras) + "\n", encoding="utf-8")
    elif suffix == ".txt":
        path.write_text(title + "\n\n" + "\n\n".join(paras) + "\n", encoding="utf-8")
    elif suffix == ".html":
        body = "".join(f"<p>{p}</p>\n" for p in paras)
        path.write_text(
            f"<html><head><title>{title}</title></head><body><article><h1>{title}</h1>\n"
            f"{body}</article></body></html>\n",
            encoding="utf-8",
        )
    elif suffix == ".pdf":
        make_pdf(path, [" ".join(paras[i : i + 2]) for i in range(0, len(paras), 2)], title=title)
    else:
        make_docx(path, [("h1", title), *(("p", p) for p in paras)], title=title)


@dataclass
class Lab:
    """A corpus in two versions and the stores built from it, at fixed paths (documents
    are keyed by absolute path, so every trial reuses the same folder)."""

    root: Path
    docs: Path
    a: Path  # version A of every file
    b: Path  # version B: half the files changed, some added
    baseline: Path  # data dir with version A ingested
    fingerprint: str = ""
    # path -> {sha256: the text its loader gives}, for every version of every file
    versions: dict[str, dict[str, str]] = field(default_factory=dict)
    sha_a: dict[str, str] = field(default_factory=dict)  # path -> sha256 of version A
    sha_b: dict[str, str] = field(default_factory=dict)

    @property
    def old_paths(self) -> set[str]:
        return set(self.sha_a)

    @property
    def changed(self) -> int:
        return sum(1 for p, sha in self.sha_b.items() if self.sha_a.get(p) != sha)

    reference: dict[str, tuple[str, int, tuple[str, ...]]] = field(default_factory=dict)

    def settings(self, data_dir: Path, workers: int = 1) -> Settings:
        return Settings(
            data_dir=data_dir,
            model_cache_dir=self.root / "models",
            ingest=IngestSettings(embed_window=WINDOW, parse_workers=workers),
        )

    def service(self, data_dir: Path) -> IngestService:
        return IngestService(self.settings(data_dir), embedder=HashingEmbedder(DIM))

    def put(self, version: Path) -> None:
        """Make the documents folder hold `version` (A resets it; B goes over A)."""
        if version == self.a and self.docs.exists():
            shutil.rmtree(self.docs)
        shutil.copytree(version, self.docs, dirs_exist_ok=True)

    def fresh_data(self, name: str, from_baseline: bool = True) -> Path:
        data = self.root / name
        if data.exists():
            shutil.rmtree(data)
        if from_baseline:
            shutil.copytree(self.baseline, data)
        return data


def build_lab(root: Path, n_files: int, n_new: int) -> Lab:
    lab = Lab(root, root / "docs", root / "src-a", root / "src-b", root / "baseline")
    for folder in (lab.a, lab.b):
        folder.mkdir(parents=True)
    for i in range(n_files + n_new):
        # New files sort among the old ones, so a crash can land before or after each.
        stem = f"doc{i:03d}" if i < n_files else f"doc{(i - n_files) * n_files // n_new:03d}n"
        name = stem + KINDS[i % len(KINDS)]
        if i < n_files:
            write_document(lab.a / name, f"Document {i}", paragraphs(f"{i}-a", 4 + i % 5))
        if i >= n_files or i % 2 == 0:  # changed in B: other text, another length
            write_document(lab.b / name, f"Document {i} v2", paragraphs(f"{i}-b", 3 + i % 7))
        elif i < n_files:
            shutil.copy(lab.a / name, lab.b / name)
    service = lab.service(lab.baseline)
    lab.fingerprint = service.fingerprint
    chunker = Chunker(service.chunk_config)
    for version in (lab.a, lab.b):
        for file in version.iterdir():
            path = str((lab.docs / file.name).resolve(strict=False))
            data = file.read_bytes()
            loaded = load_bytes(data, kind_for(file) or "text", file.name, 2000)
            sha = hashlib.sha256(data).hexdigest()
            lab.versions.setdefault(path, {})[sha] = loaded.text
            (lab.sha_a if version == lab.a else lab.sha_b)[path] = sha
            if version == lab.b:  # what a crash-free run stores, chunked here
                chunks = chunker.split(loaded.text, loaded.pages)
                lab.reference[path] = (sha, len(chunks), tuple(c.text for c in chunks))
    lab.put(lab.a)
    assert not service.run(lab.docs).failed
    service.store.close()
    return lab


def snapshot(data_dir: Path) -> dict[str, tuple[str, int, tuple[str, ...]]]:
    """Each document's content hash, chunk count and chunk texts, by path."""
    store = DocumentStore(data_dir / "store.sqlite3")
    try:
        return {
            d.path: (d.sha256, d.chunks, tuple(c.text for c in store.chunks_for_document(d.id)))
            for d in store.list_documents()
        }
    finally:
        store.close()


@dataclass
class State:
    old: int = 0
    new: int = 0
    absent: int = 0


def check_sound(lab: Lab, data_dir: Path, had_a: bool = True) -> State:
    """Everything a crash must leave true; returns how many documents are old or new.
    `had_a`: the store held version A before (else it was empty)."""
    db = data_dir / "store.sqlite3"
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    finally:
        conn.close()
    # Opening the store completes a schema whose creation the crash cut short.
    store = DocumentStore(db)
    state = State()
    try:
        # FTS5 checks its index against the chunks table; raises if out of step.
        store._conn.execute("INSERT INTO chunks_fts(chunks_fts) VALUES ('integrity-check')")
        docs = store.list_documents()
        for doc in docs:
            versions = lab.versions[doc.path]
            assert doc.sha256 in versions, f"{doc.path}: content of no known version"
            text = store.document_text(doc.id)
            assert text == versions[doc.sha256], f"{doc.path}: text of another version"
            chunks = store.chunks_for_document(doc.id)
            assert len(chunks) == doc.chunks, f"{doc.path}: {len(chunks)} of {doc.chunks} chunks"
            assert [c.ordinal for c in chunks] == list(range(doc.chunks))
            assert all(text[c.start : c.end] == c.text for c in chunks)
            if lab.sha_a.get(doc.path) != lab.sha_b[doc.path]:  # changed or added in B
                if doc.sha256 == lab.sha_b[doc.path]:
                    state.new += 1
                else:
                    state.old += 1
        if had_a:
            assert lab.old_paths <= {d.path for d in docs}, "a crash lost an old document"
        state.absent = len(lab.sha_b) - len(docs)
        assert store.count_chunks() == sum(d.chunks for d in docs)
        index, _ = VectorIndex.load(store, data_dir / "index", DIM, lab.fingerprint)
        held = index.ids()
        assert len(np.unique(held)) == len(held), "a chunk twice in the index"
        assert sorted(held.tolist()) == sorted(store.chunk_ids(lab.fingerprint).tolist())
    finally:
        store.close()
    return state


def rerun_converges(lab: Lab, data_dir: Path) -> None:
    """A run after the crash finishes the job: the crash-free run's state, no duplicate
    chunks, an index level with the store, and no job left `running`."""
    service = lab.service(data_dir)
    try:
        summary = service.run(lab.docs)  # lock_timeout_s=0: the dead job's lock is gone
        assert not summary.failed
        assert snapshot(data_dir) == lab.reference
        running = [j for j in service.store.jobs.list() if j.status == "running"]
        assert running == [], "a killed job still says it is running"
        _, report = VectorIndex.load(service.store, data_dir / "index", DIM, lab.fingerprint)
        assert report.action == "loaded", "the re-run saved an index level with the store"
    finally:
        service.store.close()
    check_sound(lab, data_dir)
    leftovers = [p.name for p in (data_dir / "index").iterdir() if p.name.endswith(".tmp")]
    assert leftovers == [], "temporary files of a killed index save are cleaned up"


CHILD_ENV = {
    "RAG_INGEST__EMBED_WINDOW": str(WINDOW),
    "RAG_INGEST__PARSE_WORKERS": "1",
    "RAG_TEST_SAVE_EVERY_S": "0",  # save the index after every window: more to crash in
}


@dataclass
class Trial:
    how: str
    rc: int | None
    state: State
    seconds: float  # the whole trial: crash, checks, re-run
    child_s: float  # the killed (or finished) run alone


def crash_trial(lab: Lab, name: str, crash_at: str | None, delay_s: float | None) -> Trial:
    """Ingest version B over the baseline in a child killed at `crash_at` (PHASE:N) or
    after `delay_s`, then check the store, re-run and check again."""
    data = lab.fresh_data(name)
    lab.put(lab.a)
    lab.put(lab.b)
    env = dict(CHILD_ENV)
    if crash_at:
        env["RAG_TEST_CRASH_AT"] = crash_at
    t0 = time.monotonic()
    child = ingest_child.start(data, ["ingest", str(lab.docs)], env)
    try:
        if delay_s is not None:
            try:
                child.wait(timeout=delay_s)
            except subprocess.TimeoutExpired:
                os.kill(child.pid, signal.SIGKILL)
        _, err = child.communicate(timeout=120)
        child_s = time.monotonic() - t0
    finally:
        orphans = ingest_child.reap_session(child.pid)
    assert orphans == [], f"parser processes outlived the killed job: {orphans}"
    if crash_at:
        assert child.returncode == -signal.SIGKILL, f"{crash_at} never reached: {err[-2000:]}"
    else:
        assert child.returncode in (0, -signal.SIGKILL), err[-2000:]
    state = check_sound(lab, data)
    rerun_converges(lab, data)
    how = crash_at or f"after {delay_s:.2f} s"
    return Trial(how, child.returncode, state, time.monotonic() - t0, child_s)


@pytest.fixture(scope="module")
def small_lab(tmp_path_factory: pytest.TempPathFactory) -> Lab:
    return build_lab(tmp_path_factory.mktemp("crash"), n_files=10, n_new=2)


@pytest.mark.parametrize(
    "crash_at",
    [
        "store:3",  # inside a transaction, two documents of its window written
        "commit:2",  # SQLite committed a window, the vector index not yet told
        "index:3",  # a new index file published beside its old manifest
    ],
)
def test_sigkill_leaves_a_sound_store_and_a_rerun_converges(small_lab: Lab, crash_at: str) -> None:
    trial = crash_trial(small_lab, "trial", crash_at, None)
    assert trial.rc == -signal.SIGKILL


@pytest.mark.soak
def test_sigkill_soak(tmp_path: Path) -> None:
    """RAG_SOAK_TRIALS kills (default 26): three at random points of each phase, the rest
    at random moments of a run, over a 48-file corpus."""
    lab = build_lab(tmp_path, n_files=40, n_new=8)
    trials_wanted = int(os.environ.get("RAG_SOAK_TRIALS", "26"))
    seed = int(os.environ.get("RAG_SOAK_SEED", str(random.randrange(1 << 30))))
    rng = random.Random(seed)
    windows = 6  # at least this many windows in version B's run (checked by index:12 below)
    limits = {
        "parse": 24,
        "embed": windows,
        "store": 24,
        "commit": windows,
        "index": 2 * windows,
        "index-tmp": 2 * windows,
    }
    clean = crash_trial(lab, "clean", None, 600.0)  # calibrates the random delays
    assert clean.rc == 0
    plan: list[tuple[str | None, float | None]] = []
    for _ in range(3):
        for phase, limit in limits.items():
            plan.append((f"{phase}:{rng.randint(1, limit)}", None))
    while len(plan) < trials_wanted:
        plan.append((None, rng.uniform(0.3, 1.0) * clean.child_s))
    rng.shuffle(plan)
    t0 = time.monotonic()
    trials = [crash_trial(lab, "trial", at, delay) for at, delay in plan]
    killed = [t for t in trials if t.rc == -signal.SIGKILL]
    mid_run = [t for t in killed if t.state.old and t.state.new]
    lines = [
        f"seed {seed}: {len(trials)} trials, {len(killed)} killed, {len(mid_run)} with old and "
        f"new documents side by side, {time.monotonic() - t0:.0f} s "
        f"({lab.changed} documents to write)",
        *(
            f"  {t.how:>16}  rc={t.rc}  old={t.state.old} new={t.state.new} "
            f"absent={t.state.absent}  ran {t.child_s:.1f} s, {t.seconds:.1f} s with checks"
            for t in trials
        ),
    ]
    print("\n".join(lines))
    assert len(trials) >= 20 and len(killed) >= 18


# -- disk full --------------------------------------------------------------------------------


def _file_size_limit(limit: int) -> None:
    """In the child: no file may grow past `limit` bytes; a write past it fails with
    EFBIG (SIGXFSZ, which would kill the process, is ignored, as with a full disk)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def disk_full_trial(lab: Lab, limit: int) -> str:
    data = lab.fresh_data("full", from_baseline=False)
    lab.put(lab.a)
    lab.put(lab.b)
    env = {"RAG_INGEST__EMBED_WINDOW": str(WINDOW), "RAG_INGEST__PARSE_WORKERS": "1"}
    child = ingest_child.start(
        data, ["ingest", str(lab.docs)], env, preexec_fn=lambda: _file_size_limit(limit)
    )
    try:
        _, err = child.communicate(timeout=120)
    finally:
        ingest_child.reap_session(child.pid)
    assert child.returncode == 1, err[-3000:]
    assert "Traceback" not in err
    check_sound(lab, data, had_a=False)
    rerun_converges(lab, data)
    return " ".join(err.split())


def test_disk_full_fails_the_job_clearly_and_a_rerun_with_room_converges(small_lab: Lab) -> None:
    message = disk_full_trial(small_lab, 384 * 1024)  # about half the documents fit
    assert "disk is full or a file size limit was reached" in message, message
    assert "free some space" in message.lower() and "run the ingest again" in message


@pytest.mark.soak
@pytest.mark.parametrize("limit_kb", [48, 64, 96, 128, 192, 256, 512])
def test_disk_full_at_various_sizes(small_lab: Lab, limit_kb: int) -> None:
    """From a store whose schema cannot be written whole to one that fits all but the
    last documents."""
    message = disk_full_trial(small_lab, limit_kb * 1024)
    assert "disk is full or a file size limit was reached" in message, message


def test_a_job_whose_index_cannot_be_saved_is_recorded_as_failed(
    small_lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the disk fills while the index is saved (the job's last write), the job
    fails with the message saying so, and its record says `failed`, not `running`."""
    import errno

    data = small_lab.fresh_data("unsaved", from_baseline=False)
    small_lab.put(small_lab.a)

    def no_room(self: VectorIndex, generation: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(VectorIndex, "persist", no_room)
    service = small_lab.service(data)
    with pytest.raises(StoreWriteError, match="the disk is full or a file size limit"):
        service.run(small_lab.docs)
    assert [j.status for j in service.store.jobs.list()] == ["failed"]
    service.store.close()


# -- a damaged vector index at start-up --------------------------------------------------------


@pytest.fixture
def ingested(small_lab: Lab) -> Iterator[Path]:
    data = small_lab.fresh_data("searched")
    yield data


@pytest.mark.parametrize("keep", [0.5, 0.0])
def test_truncated_index_is_rebuilt_from_sqlite_with_a_warning(
    small_lab: Lab, ingested: Path, keep: float, caplog: pytest.LogCaptureFixture
) -> None:
    small_lab.put(small_lab.a)
    index_file = ingested / "index" / INDEX_FILE
    size = index_file.stat().st_size
    os.truncate(index_file, int(size * keep))
    search = SearchService(small_lab.settings(ingested), embedder=HashingEmbedder(DIM))
    with caplog.at_level(logging.WARNING, logger="rag.vectors"):
        result = search.search("congé salaire télétravail", k=3, mode="dense")
    assert len(result.hits) == 3
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("Rebuilding the vector index from SQLite" in w for w in warnings), warnings
    store = search.store
    index, report = VectorIndex.load(store, ingested / "index", DIM, small_lab.fingerprint)
    assert report.action == "rebuilt"  # readers never write the index: each start rebuilds
    assert sorted(index.ids().tolist()) == sorted(store.chunk_ids(small_lab.fingerprint).tolist())
    store.close()
    # The next ingest, a writer, saves a sound index again.
    service = small_lab.service(ingested)
    assert service.run(small_lab.docs).unchanged == len(small_lab.old_paths)
    _, report = VectorIndex.load(service.store, ingested / "index", DIM, small_lab.fingerprint)
    assert report.action == "loaded"
    service.store.close()


def test_a_save_removes_the_temporary_files_a_killed_save_left(tmp_path: Path) -> None:
    index = VectorIndex(DIM, "fingerprint")
    index.add(np.array([1, 2]), HashingEmbedder(DIM).embed_documents(["congé", "salaire"]))
    directory = tmp_path / "index"
    index.save(directory, 1)
    dead = [directory / f".{INDEX_FILE}.k1ll3d.tmp", directory / ".manifest.json.x9.tmp"]
    for file in dead:
        file.write_bytes(b"half an index")
    (directory / "notes.tmp").write_text("not the index's")
    index.save(directory, 2)
    assert [f.name for f in dead if f.exists()] == []
    assert (directory / "notes.tmp").exists()
    store = DocumentStore(tmp_path / "store.sqlite3")
    assert VectorIndex._read(directory, DIM, "fingerprint", 1)[1] == ""  # sound
    store.close()
