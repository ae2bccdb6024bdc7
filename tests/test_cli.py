"""The `rag` command as an admin runs it: real processes, exit codes, messages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rag.settings import get_settings
from tests.files import make_encrypted_pdf, make_pdf, release_fifo


def rag(
    *args: str, data_dir: Path, cwd: Path | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RAG_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "rag.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        cwd=cwd,
    )


def test_only_bad_files_exit_3_with_reasons(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    make_encrypted_pdf(docs / "locked.pdf", user_password="pw")
    (docs / "empty.md").write_text("")
    result = rag("ingest", str(docs), "--json", data_dir=tmp_path / "data")
    assert result.returncode == 3, result.stderr
    assert "locked.pdf: encrypted PDF, no password" in result.stderr.replace("\n", "")
    assert "Traceback" not in result.stderr
    summary = json.loads(result.stdout)
    assert summary["failed"] == 2 and summary["added"] == 0
    listed = rag("documents", "failures", "--json", data_dir=tmp_path / "data")
    assert len(json.loads(listed.stdout)) == 2


def test_ingest_refuses_links_out_of_the_folder_and_skips_fifos(tmp_path: Path) -> None:
    """`rag ingest` on a folder someone else can write to: a link to /etc/passwd is
    not read, a FIFO does not hang the command (timeout: a regression fails in 30 s)."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "passwd.txt").symlink_to("/etc/passwd")
    (docs / "zero.md").symlink_to("/dev/zero")
    os.mkfifo(docs / "pipe.md")
    try:
        result = rag("ingest", str(docs), "--json", data_dir=tmp_path / "data", timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("rag ingest hung on a FIFO or /dev/zero")
    finally:
        release_fifo(docs / "pipe.md")
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr and "root:" not in result.stdout
    summary = json.loads(result.stdout)
    assert summary["failed"] == 3 and summary["added"] == 0
    reasons = {Path(f["path"]).name: f["reason"] for f in summary["failures"]}
    assert reasons["passwd.txt"].startswith("a link to a file outside the folder being ingested")
    assert reasons["zero.md"].startswith("a link to a file outside")
    assert reasons["pipe.md"] == "not a regular file (a FIFO): skipped"


def test_job_failure_and_usage_errors(tmp_path: Path) -> None:
    missing = rag("ingest", str(tmp_path / "nope"), data_dir=tmp_path / "data")
    assert missing.returncode == 1
    assert "does not exist" in missing.stderr and "Traceback" not in missing.stderr
    usage = rag("ingest", data_dir=tmp_path / "data")
    assert usage.returncode == 2
    unknown = rag("documents", "show", "42", data_dir=tmp_path / "data")
    assert unknown.returncode == 1 and "no document with id 42" in unknown.stderr
    listed = rag("documents", "list", "--json", data_dir=tmp_path / "data")
    assert listed.returncode == 0 and json.loads(listed.stdout) == []


def test_bad_settings_are_reported_not_raised(tmp_path: Path) -> None:
    env = {**os.environ, "RAG_DATA_DIR": str(tmp_path), "RAG_CHUNKING__CHUNK_TOKENS": "lots"}
    result = subprocess.run(
        [sys.executable, "-m", "rag.cli", "documents", "list"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 1
    assert "invalid settings" in result.stderr and "chunk_tokens" in result.stderr


@pytest.mark.slow
def test_demo_then_ingest_with_the_real_model(tmp_path: Path) -> None:
    data = tmp_path / "data"
    demo = rag("demo", "--dir", str(tmp_path / "demo"), data_dir=data)
    assert demo.returncode == 0, demo.stderr
    docs = json.loads(rag("documents", "list", "--json", data_dir=data).stdout)
    assert {d["title"] for d in docs} >= {
        "Nordlys Conseil - Livret d'accueil du salarié",
        "Nordlys Conseil - Travel and Expense Policy",
    }
    groups = {Path(d["path"]).name: d["groups"] for d in docs}
    assert groups["remuneration.md"] == ["hr"] and groups["expense-policy.docx"] == ["finance"]
    handbook = next(d for d in docs if d["path"].endswith(".pdf"))
    assert handbook["pages"] == 4

    # A second folder with one good and one bad file: exit 3, the good one is in.
    extra = tmp_path / "extra"
    extra.mkdir()
    make_pdf(extra / "cantine.pdf", ["La cantine est ouverte de 11 h 30 à 14 h."])
    (extra / "fake.pdf").write_text("<html><body>not a pdf</body></html>")
    result = rag("ingest", str(extra), "--groups", "hr,finance", data_dir=data)
    assert result.returncode == 3
    assert "1 added" in result.stderr and "1 failed" in result.stderr
    again = rag("ingest", str(extra), data_dir=data)
    assert "1 unchanged" in again.stderr

    # The real embedder puts the right passage first for a French question.
    check = (
        "from rag.settings import Settings; from rag.embedding import create_embedder;"
        "from rag.store import DocumentStore; from rag.vectors.faiss_index import VectorIndex;"
        "from ingest.pipeline import IngestService;"
        "s = IngestService(Settings());"
        "idx, _ = VectorIndex.load(s.store, s.settings.index_dir, s.embedder.dimension,"
        " s.fingerprint);"
        "ids, _ = idx.search(s.embedder.embed_query('How much is a hotel night in Paris?'), 1);"
        "c = s.store.get_chunks(ids.tolist())[int(ids[0])];"
        "print(s.store.get_document(c.document_id).path, c.page_start, c.page_end)"
    )
    env = {**os.environ, "RAG_DATA_DIR": str(data), "HF_HUB_OFFLINE": "1"}
    top = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, env=env)
    assert top.returncode == 0, top.stderr
    assert top.stdout.split()[0].endswith("expense-policy.docx")
    _, first_page, last_page = top.stdout.split()
    assert int(first_page) <= 2 <= int(last_page), "the hotel caps are on page 2"


# -- `rag keys` and `rag serve`'s first run, in process (typer's CliRunner) ----------------


def keys_cli(data_dir: Path, monkeypatch: pytest.MonkeyPatch, *args: str):  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from api.cli import keys

    monkeypatch.setenv("RAG_DATA_DIR", str(data_dir))
    get_settings.cache_clear()
    return CliRunner().invoke(keys, list(args))


def test_revoke_refuses_an_argument_that_is_both_an_id_and_a_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from api.keys import KeyStore

    data = tmp_path / "data"
    store = KeyStore(data / "keys.sqlite3")
    first, _ = store.create("alice", "employee", ["public"])  # id 1
    named_1, _ = store.create("1", "employee", ["hr"])  # id 2, named "1"
    ambiguous = keys_cli(data, monkeypatch, "revoke", "1")
    assert ambiguous.exit_code == 2, ambiguous.output
    assert "--id 1" in ambiguous.output and "--name 1" in ambiguous.output
    assert store.authenticate(first) and store.authenticate(named_1), "nothing revoked"
    by_name = keys_cli(data, monkeypatch, "revoke", "--name", "1")
    assert by_name.exit_code == 0, by_name.output
    assert store.authenticate(named_1) is None and store.authenticate(first)
    # Unambiguous now ("1" names no active key): the plain argument is the id.
    assert keys_cli(data, monkeypatch, "revoke", "1").exit_code == 0
    assert store.authenticate(first) is None


def test_revoke_by_plain_argument_id_option_or_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from api.keys import KeyStore

    data = tmp_path / "data"
    store = KeyStore(data / "keys.sqlite3")
    keys = {name: store.create(name, "employee", [])[0] for name in ("alice", "bob", "7", "carol")}
    # "7" is a name and no key has id 7: the argument means the name.
    assert keys_cli(data, monkeypatch, "revoke", "7").exit_code == 0
    assert store.authenticate(keys["7"]) is None
    assert keys_cli(data, monkeypatch, "revoke", "alice").exit_code == 0
    assert keys_cli(data, monkeypatch, "revoke", "--id", "2").exit_code == 0  # bob
    assert store.authenticate(keys["bob"]) is None and store.authenticate(keys["carol"])
    missing = keys_cli(data, monkeypatch, "revoke", "--name", "nobody")
    assert missing.exit_code == 1 and "no active key 'nobody'" in missing.output
    both = keys_cli(data, monkeypatch, "revoke", "carol", "--id", "4")
    assert both.exit_code == 2 and "name one key" in both.output
    assert store.authenticate(keys["carol"]), "a refused command revokes nothing"


def serve(data_dir: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """`rag serve` up to the point where it would start the server."""
    import typer
    import uvicorn
    from typer.testing import CliRunner

    from api.cli import serve_command

    started: list[dict] = []  # type: ignore[type-arg]
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: started.append(kw))
    monkeypatch.setenv("RAG_DATA_DIR", str(data_dir))
    get_settings.cache_clear()
    app = typer.Typer()
    app.command()(serve_command)
    result = CliRunner().invoke(app, [])
    assert result.exit_code == 0, result.output
    assert started, "the server was started"
    return result


def test_first_run_admin_key_goes_to_a_private_file_never_to_logs_or_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import logging
    import stat

    from api.cli import ADMIN_KEY_FILE
    from api.keys import KeyStore

    caplog.set_level(logging.DEBUG)
    data = tmp_path / "data"
    result = serve(data, monkeypatch)
    key_file = data / ADMIN_KEY_FILE
    assert key_file.is_file(), result.output
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_text().strip()
    who = KeyStore(data / "keys.sqlite3").authenticate(key)
    assert who is not None and who.is_admin
    assert str(key_file) in result.output, "the terminal says where the key is"
    assert key not in result.output and key[-12:] not in result.output
    logged = [r.getMessage() + repr(r.__dict__) for r in caplog.records]
    assert not any(key in line for line in logged), "the key went through the logging system"


def test_revoking_every_admin_key_creates_none_on_the_next_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    from api.cli import ADMIN_KEY_FILE
    from api.keys import KeyStore

    caplog.set_level(logging.WARNING)
    data = tmp_path / "data"
    serve(data, monkeypatch)
    (data / ADMIN_KEY_FILE).unlink()
    store = KeyStore(data / "keys.sqlite3")
    assert store.revoke("admin (first run)") == 1
    caplog.clear()
    result = serve(data, monkeypatch)
    assert not (data / ADMIN_KEY_FILE).exists() and "admin API key" not in result.output
    assert not store.has_admin(), "no admin key appeared silently"
    assert [k["role"] for k in store.list()] == ["admin"], "no new key at all"
    warning = " ".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert "no active admin API key" in warning
    assert "rag keys create --name NAME --role admin" in warning
    # An admin key created by hand is what brings admin access back.
    store.create("ops", "admin", [])
    caplog.clear()
    serve(data, monkeypatch)
    assert not caplog.records
