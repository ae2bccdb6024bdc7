"""Hostile files: each fails alone (the rest of the batch goes in), within a time and a
memory bound, with a reason that says what happened.

A decompression bomb (a DOCX whose document.xml inflates to 3 GB), a PDF of 5,000
pages, deeply nested PDF objects and HTML elements, a 200 MB file, text that is not
UTF-8, and a bounded fuzzing run over the loaders. Parsing runs in the sandbox of
ingest/sandbox.py (a child process with a timeout and an address-space limit); the
fuzzing calls the loaders directly, with an alarm for hangs. The `soak` run
(`pytest -m soak tests/test_hostile_files.py`) fuzzes longer, with a fresh seed.
docs/reliability.md has the figures.
"""

from __future__ import annotations

import functools
import io
import json
import os
import random
import re
import resource
import signal
import struct
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.chunking import ChunkConfig, tokenizer_file
from ingest.loaders import EXTENSION_KIND, LoadedDocument, LoaderError, load_bytes
from ingest.pipeline import IngestService
from ingest.sandbox import ParsedFile, ParseLimits, ParserPool
from rag.embedding import resolve_model_path
from rag.settings import DEFAULT_EMBEDDING_MODEL, IngestSettings, Settings
from tests import ingest_child
from tests.fakes import HashingEmbedder
from tests.files import HTML_PAGE, make_docx, make_pdf

GOOD_TEXT = "Le congé annuel est de vingt-cinq jours ouvrés, pris entre mai et octobre."
DEPTH = 100_000

# -- making hostile files ----------------------------------------------------------------------


def _raw_deflate(data: bytes, final: bool) -> bytes:
    """Raw deflate blocks that end byte-aligned with no reference to what came before,
    so copies of them can be concatenated into one valid stream."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush(
        zlib.Z_FINISH if final else zlib.Z_FULL_FLUSH
    )


def _write_zip(path: Path, members: list[tuple[str, bytes, int, int]]) -> None:
    """A ZIP archive of (name, raw deflate data, CRC-32, inflated size) members."""
    out = io.BytesIO()
    central = []
    for name, data, crc, size in members:
        offset, encoded = out.tell(), name.encode()
        out.write(
            struct.pack(
                "<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, crc, len(data), size, len(encoded), 0
            )
            + encoded
            + data
        )
        central.append(
            struct.pack(
                "<IHHHHHHIIIHHHHHII",
                *(0x02014B50, 20, 20, 0, 8, 0, 0x21, crc, len(data), size, len(encoded)),
                *(0, 0, 0, 0, 0, offset),
            )
            + encoded
        )
    start = out.tell()
    for entry in central:
        out.write(entry)
    count, length = len(central), out.tell() - start
    out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count, length, start, 0))
    path.write_bytes(out.getvalue())


def make_docx_bomb(path: Path, inflated: int = 3 << 30) -> Path:
    """A real DOCX whose word/document.xml (honestly declared) inflates to `inflated`
    bytes of paragraphs: about 1 MB compressed per 330 MB inflated."""
    path.write_bytes(_docx_bomb(inflated))
    return path


@functools.cache
def _docx_bomb(inflated: int) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        template = make_docx(Path(tmp) / "template.docx", [("p", GOOD_TEXT)])
        bomb = Path(tmp) / "bomb.docx"
        ns = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
        head = f'<?xml version="1.0" encoding="UTF-8"?>\n<w:document xmlns:w="{ns}"><w:body>'
        tail = b"</w:body></w:document>"
        unit = b"<w:p><w:r><w:t>bomb</w:t></w:r></w:p>" * ((1 << 20) // 37)
        repeats = inflated // len(unit)
        crc = zlib.crc32(head.encode())
        for _ in range(repeats):
            crc = zlib.crc32(unit, crc)
        crc = zlib.crc32(tail, crc)
        body = _raw_deflate(head.encode(), False) + _raw_deflate(unit, False) * repeats
        body += _raw_deflate(tail, True)
        size = len(head.encode()) + len(unit) * repeats + len(tail)
        members = []
        with zipfile.ZipFile(template) as archive:
            for info in archive.infolist():
                if info.filename == "word/document.xml":
                    members.append((info.filename, body, crc, size))
                else:
                    raw = archive.read(info)
                    deflated = _raw_deflate(raw, True)
                    members.append((info.filename, deflated, zlib.crc32(raw), len(raw)))
        _write_zip(bomb, members)
        return bomb.read_bytes()


def make_blank_pdf(path: Path, pages: int) -> Path:
    from pypdf import PdfWriter

    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=200, height=200)
    with path.open("wb") as fh:
        writer.write(fh)
    return path


def make_raw_pdf(path: Path, page_extra: bytes = b"", content: bytes | None = None) -> Path:
    """A one-page PDF written by hand: `page_extra` goes into the page dictionary,
    `content` is the page's content stream (by default a line of text)."""
    if content is None:
        content = b"BT /F1 12 Tf 20 100 Td (Le conge annuel est de vingt-cinq jours.) Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> " + page_extra + b" >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    path.write_bytes(bytes(out))
    return path


def nested_dict(depth: int) -> bytes:
    return b"/Deep " + b"<< /A " * depth + b"1" + b" >>" * depth


def nested_array(depth: int) -> bytes:
    return b"/Deep " + b"[" * depth + b"]" * depth


def write_hostile_batch(folder: Path) -> dict[str, str]:
    """Good files and hostile ones side by side; returns each hostile file's kind."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "good.md").write_text(f"# Congés\n\n{GOOD_TEXT}\n", encoding="utf-8")
    make_pdf(folder / "good.pdf", [GOOD_TEXT, "Les RTT sont posés avec l'accord du manager."])
    make_docx(folder / "good.docx", [("h1", "Voyages"), ("p", "Le train est en seconde classe.")])
    make_raw_pdf(folder / "good-raw.pdf")
    make_docx_bomb(folder / "bomb.docx")
    make_blank_pdf(folder / "pages.pdf", 5000)
    make_raw_pdf(folder / "nested-dict.pdf", nested_dict(DEPTH))
    make_raw_pdf(folder / "nested-array.pdf", nested_array(DEPTH))
    make_raw_pdf(folder / "nested-content.pdf", content=b"[" * DEPTH + b"]" * DEPTH + b" TJ")
    divs = "<div>" * DEPTH + GOOD_TEXT + "</div>" * DEPTH
    (folder / "nested.html").write_text(f"<html><body>{divs}</body></html>", encoding="utf-8")
    with (folder / "huge.txt").open("wb") as fh:  # sparse: 200 MB that take no room
        fh.truncate(200 * 1024 * 1024)
    latin = "Les salariés prennent leurs congés payés après accord; l'été est privilégié.\n"
    (folder / "latin1.txt").write_bytes(latin.encode("latin-1") * 5)
    (folder / "latin1.md").write_bytes(("# Été\n\n" + latin * 5).encode("latin-1"))
    rng = random.Random(7)
    (folder / "random.txt").write_bytes(rng.randbytes(100_000))
    (folder / "random.md").write_bytes(bytes(rng.randrange(1, 256) for _ in range(100_000)))
    return {
        "bomb.docx": "a DOCX inflating to 3 GB",
        "pages.pdf": "5,000 blank pages",
        "nested-dict.pdf": f"a dictionary nested {DEPTH:,} deep",
        "nested-array.pdf": f"an array nested {DEPTH:,} deep",
        "nested-content.pdf": f"a content stream with arrays nested {DEPTH:,} deep",
        "nested.html": f"{DEPTH:,} nested divs",
        "huge.txt": "200 MB (sparse)",
        "latin1.txt": "Latin-1 text",
        "latin1.md": "Latin-1 Markdown",
        "random.txt": "random bytes",
        "random.md": "random bytes, no NUL",
    }


# -- the batch -----------------------------------------------------------------------------


MEMORY_MB = 1024  # the parsers' address-space limit in these tests
TIMEOUT_S = 30


def test_hostile_batch_fails_file_by_file_within_bounds(tmp_path: Path) -> None:
    """The whole batch through `rag ingest` in a child process: the good files go in,
    each hostile one fails with its reason (or, harmless, goes in), and the job's
    time and memory stay bounded: no process of the job, parsers included, grows past
    the parser's memory limit (the bomb alone would take 3 GB inflated)."""
    folder = tmp_path / "docs"
    write_hostile_batch(folder)
    env = {
        "RAG_INGEST__PARSE_MEMORY_MB": str(MEMORY_MB),
        "RAG_INGEST__PARSE_TIMEOUT_S": str(TIMEOUT_S),
        "RAG_INGEST__PARSE_WORKERS": "2",
    }
    t0 = time.monotonic()
    log = tmp_path / "ingest"
    child = ingest_child.start(
        tmp_path / "data", ["ingest", str(folder), "--json"], env, output=log
    )
    try:
        usage = ingest_child.wait(child, 600)
    finally:
        ingest_child.reap_session(child.pid)
    seconds = time.monotonic() - t0
    out, err = log.with_suffix(".out").read_text(), log.with_suffix(".err").read_text()
    assert child.returncode == 3, err[-3000:]
    assert "Traceback" not in err
    summary = json.loads(out[out.index("{") :])
    reasons = {Path(f["path"]).name: f["reason"] for f in summary["failures"]}
    assert summary["added"] == summary["files"] - len(reasons)
    for good in ("good.md", "good.pdf", "good.docx", "good-raw.pdf", "latin1.txt", "latin1.md"):
        assert good not in reasons, f"{good} failed: {reasons.get(good)}"
    assert "decompression bomb" in reasons["bomb.docx"]
    assert reasons["pages.pdf"] == "over the 2,000-page limit (5,000 pages)"
    assert reasons["huge.txt"] == "over the 50 MB limit (200.0 MB)"
    assert reasons["random.txt"].startswith("not a text file despite the .txt name")
    for name, reason in reasons.items():
        assert reason and "Traceback" not in reason and len(reason) <= 300, (name, reason)
        assert "timed out" not in reason, f"{name} hung its parser: {reason}"
    # Bounds: no parse ran to its timeout, and the job (the bomb included) stayed small.
    assert seconds < 180, f"the batch took {seconds:.0f} s"
    peak_mb = usage.ru_maxrss / 1024
    assert peak_mb < MEMORY_MB, f"a process of the job reached {peak_mb:.0f} MB"
    assert len(err) < 20_000, "the parsers' chatter flooded the job's output"
    print(f"{len(os.listdir(folder))} files in {seconds:.1f} s, peak RSS {peak_mb:.0f} MB")
    for name, reason in sorted(reasons.items()):
        print(f"  {name}: {reason}")


def test_a_docx_bomb_is_refused_before_it_is_inflated(tmp_path: Path) -> None:
    """Refused from the sizes the ZIP declares (zipfile never inflates past them), in
    well under a second, instead of filling the parser's memory for seconds."""
    bomb = make_docx_bomb(tmp_path / "bomb.docx")
    with sandbox(memory_mb=MEMORY_MB) as parse:
        parse(make_docx(tmp_path / "warm.docx", [("p", GOOD_TEXT)]), "docx")  # start a worker
        t0 = time.monotonic()
        with pytest.raises(LoaderError) as failure:
            parse(bomb, "docx")
        seconds = time.monotonic() - t0
    reason = str(failure.value)
    assert re.match(r"decompression bomb: the DOCX inflates to 3,07\d MB", reason), reason
    assert f"{MEMORY_MB:,} MB memory limit" in reason
    assert seconds < 1.5, f"{seconds:.1f} s: the bomb was inflated"


@contextmanager
def sandbox(
    memory_mb: int = MEMORY_MB, timeout_s: float = TIMEOUT_S
) -> Iterator[Callable[[Path, str], ParsedFile]]:
    """Parse files one at a time in the ingest's sandbox (one worker process)."""
    config = ChunkConfig(tokenizer_file(resolve_model_path(DEFAULT_EMBEDDING_MODEL)), 200, 30)
    with ParserPool(ParseLimits(timeout_s, memory_mb, 2000), 1) as pool:

        def parse(path: Path, kind: str) -> ParsedFile:
            return pool.result(pool.submit(str(path), kind, config))

        yield parse


def test_a_200_mb_file_is_refused_before_it_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    with (folder / "huge.md").open("wb") as fh:
        fh.truncate(200 * 1024 * 1024)
    (folder / "ok.md").write_text(f"# Congés\n\n{GOOD_TEXT}\n")
    import ingest.pipeline

    hashed: list[int] = []  # the size of each file hashed
    real_hash = ingest.pipeline.hash_limited

    def recording_hash(fh: Any, max_bytes: int) -> tuple[int, str]:
        hashed.append(os.fstat(fh.fileno()).st_size)
        return real_hash(fh, max_bytes)

    monkeypatch.setattr(ingest.pipeline, "hash_limited", recording_hash)
    settings = Settings(data_dir=tmp_path / "data", ingest=IngestSettings(parse_workers=1))
    summary = IngestService(settings, embedder=HashingEmbedder(32)).run(folder)
    assert summary.failed == [(str(folder / "huge.md"), "over the 50 MB limit (200.0 MB)")]
    assert summary.added == 1
    assert len(hashed) == 1 and hashed[0] < 1024 * 1024, "the big file was read"


def test_parser_chatter_does_not_reach_the_job_output(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """pypdf logs a warning for each bad object it skips; a PDF of 100,000 nested
    dictionaries made the parser print 33,000 lines (1.6 MB, with names taken from the
    file) to the job's stderr: the server's log, or the admin's terminal."""
    pdf = make_raw_pdf(tmp_path / "nested.pdf", nested_dict(DEPTH))
    with sandbox() as parse, suppress(LoaderError):
        parse(pdf, "pdf")
    err = capfd.readouterr().err
    assert len(err) < 2_000, f"{len(err):,} characters on stderr: {err[:300]!r}"


def test_markup_in_file_names_and_documents_is_shown_as_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rich reads "[...]" in what it prints as markup: a file at "vide[/x].md" made
    `rag ingest` fail at its summary (MarkupError, exit 1 instead of 3), a title
    "[/x]" made `rag documents list`, `rag search` and `rag ask` fail for everyone,
    and "[bold]" vanished from what they showed. Names, titles, text, quotes and
    reasons come from the files: they are printed as text."""
    import functools

    import typer
    from typer.testing import CliRunner

    import ingest.cli
    import rag.answer.service
    import rag.cli.commands
    from rag.retrieval.service import SearchService
    from tests.fakes import ScriptedLLM

    folder = tmp_path / "docs"
    folder.mkdir()
    title = "Congés [/x] [bold]payés[/bold]"
    (folder / "conges.md").write_text(
        f"---\ntitle: '{title}'\n---\n\n# Congés\n\n[/i] {GOOD_TEXT} [red]rouge[/red]\n"
    )
    (folder / "vide[x].md").write_text("")
    (folder / "vide[").mkdir()
    (folder / "vide[" / "x].md").write_text("")  # the path reads "vide[/x].md"
    embedder = HashingEmbedder(32)
    monkeypatch.setattr(
        ingest.cli, "IngestService", functools.partial(IngestService, embedder=embedder)
    )
    monkeypatch.setattr(
        rag.cli.commands, "SearchService", functools.partial(SearchService, embedder=embedder)
    )
    real_answer_service = rag.answer.service.AnswerService

    def answer_service(settings: Settings):  # type: ignore[no-untyped-def]
        search = SearchService(settings, embedder=embedder)
        reply = "Le congé annuel [/i] est de vingt-cinq jours ouvrés [1]."
        return real_answer_service(settings, search=search, llm=ScriptedLLM(reply))

    monkeypatch.setattr(rag.answer.service, "AnswerService", answer_service)
    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("RAG_INGEST__PARSE_WORKERS", "1")
    app = typer.Typer()
    ingest.cli.register(app)
    rag.cli.commands.register(app)
    runner = CliRunner()

    ingested = runner.invoke(app, ["ingest", str(folder)])
    assert ingested.exit_code == 3, ingested.output
    assert f"{folder}/vide[/x].md: empty file" in ingested.output
    assert f"{folder}/vide[x].md: empty file" in ingested.output
    listed = runner.invoke(app, ["documents", "list"])
    assert listed.exit_code == 0, listed.output
    assert "[/x]" in listed.output and "[bold]" in listed.output  # (the table wraps it)
    failures = runner.invoke(app, ["documents", "failures"])
    assert f"{folder}/vide[/x].md: empty file" in flat(failures.output)
    found = runner.invoke(app, ["search", "congé annuel jours ouvrés"])
    assert found.exit_code == 0, found.output
    shown = flat(found.output)
    assert title in shown and "[/i]" in shown and "[red]rouge[/red]" in shown
    answered = runner.invoke(app, ["ask", "Combien de jours de congé annuel ?"])
    assert answered.exit_code == 0, answered.output
    shown = flat(answered.output)
    assert "[/i] est de vingt-cinq jours" in shown and f"[1] {title}" in shown


def flat(text: str) -> str:
    """Output without the line breaks a terminal's width put in."""
    return " ".join(text.split())


def test_a_failure_reason_is_one_line_of_printable_text() -> None:
    """Reasons quote parsers, which quote the file: lxml's message for a NUL in a
    DOCX's XML spans two lines (found by the fuzzing below), and a name in a PDF may
    hold an escape sequence. Shown on one line per file, they must stay on it."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(SEEDS["docx"])) as source, zipfile.ZipFile(buffer, "w") as out:
        for info in source.infolist():
            xml = info.filename == "word/document.xml"
            out.writestr(info.filename, b"<\x00" if xml else source.read(info))
    with pytest.raises(LoaderError) as failure:
        load_bytes(buffer.getvalue(), "docx", "nul.docx", 50)
    reason = str(failure.value)
    assert reason.startswith("not a readable DOCX (XMLSyntaxError") and "\n" not in reason
    assert str(LoaderError("bad\r\nname \x1b[31m/Evil\u202e\tend")) == "bad name [31m/Evil end"


# -- fuzzing the loaders ----------------------------------------------------------------------


@contextmanager
def alarm(seconds: int) -> Iterator[None]:
    """A hang in a loader fails the example instead of the whole run hanging."""

    def hang(signum: int, frame: object) -> None:
        raise TimeoutError(f"loader still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, hang)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _seeds() -> dict[str, bytes]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        return {
            "pdf": make_pdf(
                folder / "s.pdf", [GOOD_TEXT, "Deuxième page."], title="T"
            ).read_bytes(),
            "raw-pdf": make_raw_pdf(folder / "r.pdf").read_bytes(),
            "docx": make_docx(folder / "s.docx", [("h1", "Titre"), ("p", GOOD_TEXT)]).read_bytes(),
            "html": HTML_PAGE.encode(),
            "text": f"# Titre\n\n{GOOD_TEXT}\n".encode(),
        }


SEEDS = _seeds()
KIND_OF_SEED = {"pdf": "pdf", "raw-pdf": "pdf", "docx": "docx", "html": "html", "text": "text"}
EXTENSIONS = EXTENSION_KIND  # every extension ingest reads, with its loader


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, bytes]:
    """A good file of some kind with bytes overwritten, inserted or cut: what a
    fuzzer finds bugs with. The kind is sometimes not the seed's own."""
    seed = draw(st.sampled_from(sorted(SEEDS)))
    data = bytearray(SEEDS[seed])
    for _ in range(draw(st.integers(1, 12))):
        at = draw(st.integers(0, len(data)))
        op = draw(st.sampled_from(["flip", "insert", "delete", "cut"]))
        chunk = draw(st.binary(min_size=1, max_size=16))
        if op == "flip":
            data[at : at + len(chunk)] = chunk
        elif op == "insert":
            data[at:at] = chunk
        elif op == "delete":
            del data[at : at + len(chunk)]
        else:
            del data[at:]
    kind = draw(st.sampled_from([KIND_OF_SEED[seed], *sorted(set(EXTENSIONS.values()))]))
    return kind, bytes(data)


@st.composite
def random_file(draw: st.DrawFn) -> tuple[str, bytes]:
    """Random bytes under each extension, some behind the header their kind expects."""
    extension = draw(st.sampled_from(sorted(EXTENSIONS)))
    kind = EXTENSIONS[extension]
    prefix = draw(
        st.sampled_from([b"", b"%PDF-1.7\n", b"PK\x03\x04", b"<html><body>", b"\xef\xbb\xbf"])
    )
    return kind, prefix + draw(st.binary(max_size=4096))


@st.composite
def docx_with_random_body(draw: st.DrawFn) -> tuple[str, bytes]:
    """A valid ZIP whose document.xml is random (bytes, or text in Word's namespace)."""
    body = draw(
        st.one_of(
            st.binary(max_size=2048),
            st.text(max_size=300).map(
                lambda t: (
                    '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/'
                    f'2006/main"><w:body><w:p><w:r><w:t>{t}</w:t></w:r></w:p></w:body></w:document>'
                ).encode()
            ),
        )
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(SEEDS["docx"])) as source, zipfile.ZipFile(buffer, "w") as out:
        for info in source.infolist():
            data = body if info.filename == "word/document.xml" else source.read(info)
            out.writestr(info.filename, data)
    return "docx", buffer.getvalue()


FUZZ_INPUTS = st.one_of(mutated(), random_file(), docx_with_random_body())


def check_loader(kind: str, data: bytes) -> None:
    """A loader returns a document whose pages lie inside its text, or raises
    LoaderError with a one-line reason; anything else is a bug, and so is a hang."""
    try:
        with alarm(20):
            doc = load_bytes(data, kind, f"fuzz.{kind}", 50)
    except LoaderError as exc:
        reason = str(exc)
        assert reason and "\n" not in reason and len(reason) <= 300, reason
        return
    assert isinstance(doc, LoadedDocument) and doc.text.strip()
    assert all(0 <= p.start <= p.end <= len(doc.text) for p in doc.pages)


@settings(
    max_examples=int(os.environ.get("RAG_FUZZ_EXAMPLES", "120")),
    deadline=None,
    derandomize=True,  # the default suite replays the same inputs every run
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(FUZZ_INPUTS)
def test_loaders_fail_only_with_a_reason(case: tuple[str, bytes]) -> None:
    check_loader(*case)


@pytest.mark.soak
@settings(
    max_examples=int(os.environ.get("RAG_SOAK_FUZZ_EXAMPLES", "3000")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(FUZZ_INPUTS)
def test_loaders_fail_only_with_a_reason_soak(case: tuple[str, bytes]) -> None:
    check_loader(*case)


def mutate(rng: random.Random, data: bytes) -> bytes:
    """What `mutated` draws, with a plain random generator (for files on disk)."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 12)):
        at = rng.randrange(len(out) + 1)
        op = rng.choice(("flip", "insert", "delete", "cut"))
        chunk = rng.randbytes(rng.randint(1, 16))
        if op == "flip":
            out[at : at + len(chunk)] = chunk
        elif op == "insert":
            out[at:at] = chunk
        elif op == "delete":
            del out[at : at + len(chunk)]
        else:
            del out[at:]
    return bytes(out)


@pytest.mark.soak
def test_fuzzed_batch_through_the_sandbox_soak(tmp_path: Path) -> None:
    """RAG_SOAK_FUZZ_FILES (default 300) mutated files of every kind, under every
    extension, in one job with good files: the good ones go in, each other one goes in
    or fails alone with a one-line reason, and no parser runs to its timeout."""
    count = int(os.environ.get("RAG_SOAK_FUZZ_FILES", "300"))
    seed = int(os.environ.get("RAG_SOAK_SEED", str(random.randrange(1 << 30))))
    rng = random.Random(seed)
    folder = tmp_path / "docs"
    folder.mkdir()
    good = {f"good-{name}{ext}" for name, ext in (("a", ".md"), ("b", ".pdf"), ("c", ".docx"))}
    (folder / "good-a.md").write_text(f"# Congés\n\n{GOOD_TEXT}\n")
    (folder / "good-b.pdf").write_bytes(SEEDS["pdf"])
    (folder / "good-c.docx").write_bytes(SEEDS["docx"])
    for i in range(count):
        seed_name = rng.choice(sorted(SEEDS))
        own = [e for e, kind in EXTENSIONS.items() if kind == KIND_OF_SEED[seed_name]]
        extension = rng.choice(own if rng.random() < 0.7 else sorted(EXTENSIONS))
        data = mutate(rng, SEEDS[seed_name]) if rng.random() < 0.8 else rng.randbytes(4096)
        (folder / f"fuzz-{i:04d}-{seed_name}{extension}").write_bytes(data)
    settings = Settings(
        data_dir=tmp_path / "data",
        ingest=IngestSettings(
            parse_workers=2, parse_timeout_s=TIMEOUT_S, parse_memory_mb=MEMORY_MB, embed_window=256
        ),
    )
    t0 = time.monotonic()
    summary = IngestService(settings, embedder=HashingEmbedder(32)).run(folder)
    seconds = time.monotonic() - t0
    reasons = {Path(p).name: r for p, r in summary.failed}
    assert not good & set(reasons), reasons
    assert summary.added + len(reasons) == count + len(good)
    for name, reason in reasons.items():
        assert reason and "\n" not in reason and len(reason) <= 300, (name, reason)
        assert "timed out" not in reason and "crashed" not in reason, (name, reason)
    kinds: dict[str, int] = {}
    for reason in reasons.values():
        key = reason.split("(")[0].strip()
        kinds[key] = kinds.get(key, 0) + 1
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        f"seed {seed}: {count} fuzzed files + {len(good)} good in {seconds:.1f} s: "
        f"{summary.added} added, {len(reasons)} failed; largest child RSS {peak:.0f} MB"
    )
    for key, n in sorted(kinds.items(), key=lambda kv: -kv[1]):
        print(f"  {n:4d}  {key}")
