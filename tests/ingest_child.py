"""`rag ingest` in a child process with the tests' HashingEmbedder instead of the real
model, for tests that kill it, starve it of disk or feed it hostile files.

    python -m tests.ingest_child ingest FOLDER [--json ...]

The command line is the real one (rag.cli.main, ingest.cli); only the embedder is
swapped. `RAG_TEST_CRASH_AT=PHASE:N` makes the process SIGKILL itself at the Nth
time it reaches PHASE, so a test lands a crash in a chosen phase every time rather
than by luck of timing. All of it lives here, under tests/: nothing in the pipeline
knows about it.

PHASE is one of:
  parse      waiting for the Nth parsed file (the parser workers are busy)
  embed      in the Nth encoder call
  store      after the Nth document's rows are written, before their transaction commits
  commit     after the Nth transaction committed, before the vector index follows it
  index      after the Nth file of an index save is published (odd N: the index file is
             new, its manifest still the old one; even N: both are)
  index-tmp  in the Nth index-save write, half the bytes written to the temporary file
"""

from __future__ import annotations

import contextlib
import functools
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

PHASES = ("parse", "embed", "store", "commit", "index", "index-tmp")
ROOT = Path(__file__).resolve().parents[1]


# -- the parent's side ---------------------------------------------------------------------


def start(
    data_dir: Path,
    args: list[str],
    env: dict[str, str] | None = None,
    preexec_fn: Callable[[], None] | None = None,
    output: Path | None = None,
) -> subprocess.Popen[str]:
    """`rag ingest ARGS` (or another `rag` command) in a child process of its own session,
    so that every process it starts (the parser workers) can be found afterwards.
    Its output goes to pipes, or to `output`.out and `output`.err (see `wait`)."""
    full_env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "RAG_DATA_DIR": str(data_dir),
        "RAG_MODEL_CACHE_DIR": str(data_dir.parent / "models"),
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        **(env or {}),
    }
    out: Any = subprocess.PIPE
    err: Any = subprocess.PIPE
    if output is not None:
        out = output.with_suffix(".out").open("w")
        err = output.with_suffix(".err").open("w")
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.ingest_child", *args],
            cwd=ROOT,
            env=full_env,
            stdout=out,
            stderr=err,
            text=True,
            start_new_session=True,
            preexec_fn=preexec_fn,
        )
    finally:
        if output is not None:
            out.close()
            err.close()


def wait(child: subprocess.Popen[str], timeout_s: float) -> resource.struct_rusage:
    """Wait for a child started with `output`; returns its resource usage, which takes in
    the processes it waited for (its parser workers): ru_maxrss is the largest RSS, in
    KiB, of any of them."""
    deadline = time.monotonic() + timeout_s
    while True:
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            child.returncode = os.waitstatus_to_exitcode(status)
            return usage
        if time.monotonic() > deadline:
            os.kill(child.pid, signal.SIGKILL)
            raise TimeoutError(f"the child ran past {timeout_s:g} s and was killed")
        time.sleep(0.05)


def session_processes(session: int) -> list[int]:
    """Live processes of a session (`start` makes one per child: its id is the child's).
    Zombies, dead but not yet reaped by whoever adopted them, do not count."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
                if state != "Z" and os.getsid(int(entry)) == session:
                    found.append(int(entry))
            except (OSError, IndexError):
                pass
    return found


def reap_session(session: int, grace_s: float = 10.0) -> list[int]:
    """Wait for a killed child's own children (parser workers) to exit by themselves;
    returns those still alive after `grace_s`, after killing them one by one."""
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        left = session_processes(session)
        if not left:
            return []
        time.sleep(0.1)
    left = session_processes(session)
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return left


# -- the child's side ----------------------------------------------------------------------


def _die() -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def _install_crash(phase: str, n: int) -> None:
    import ingest.sandbox
    import rag.store.documents
    import rag.vectors.faiss_index as faiss_index
    import tests.fakes

    calls = 0

    def reached() -> bool:
        nonlocal calls
        calls += 1
        return calls == n

    def before(owner: Any, name: str) -> None:
        original = getattr(owner, name)

        @functools.wraps(original)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if reached():
                _die()
            return original(*args, **kwargs)

        setattr(owner, name, wrapper)

    def after(owner: Any, name: str) -> None:
        original = getattr(owner, name)

        @functools.wraps(original)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            result = original(*args, **kwargs)
            if reached():
                _die()
            return result

        setattr(owner, name, wrapper)

    if phase == "parse":
        before(ingest.sandbox.ParserPool, "result")
    elif phase == "embed":
        before(tests.fakes.HashingEmbedder, "embed_documents")
    elif phase == "store":
        after(rag.store.documents.DocumentStore, "put_document")
    elif phase == "commit":
        before(faiss_index.VectorIndex, "upsert")
    elif phase == "index":
        after(faiss_index, "_atomic_write")
    elif phase == "index-tmp":
        original = faiss_index._atomic_write

        def half_written(path: Path, data: bytes) -> None:
            if reached():
                fd, _ = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
                os.write(fd, data[: len(data) // 2])
                _die()
            original(path, data)

        faiss_index._atomic_write = half_written  # type: ignore[assignment]
    else:
        raise SystemExit(f"RAG_TEST_CRASH_AT: unknown phase {phase!r} (one of {PHASES})")


def main() -> None:
    import ingest.cli
    import ingest.pipeline
    from rag.cli import main as rag_main
    from tests.fakes import HashingEmbedder

    ingest.cli.IngestService = functools.partial(  # type: ignore[misc]
        ingest.pipeline.IngestService, embedder=HashingEmbedder(dimension=32)
    )
    if os.environ.get("RAG_TEST_SAVE_EVERY_S"):
        ingest.pipeline.SAVE_INDEX_EVERY_S = float(os.environ["RAG_TEST_SAVE_EVERY_S"])
    crash = os.environ.get("RAG_TEST_CRASH_AT")
    if crash:
        phase, _, n = crash.partition(":")
        _install_crash(phase, int(n or 1))
    sys.argv = ["rag", *sys.argv[1:]]
    rag_main()


if __name__ == "__main__":
    main()
