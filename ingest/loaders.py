"""File loaders: bytes -> normalised text, a page map and a title.

Every loader returns Markdown-flavoured text (headings as `#` lines) so the
chunker finds headings the same way whatever the format. Each failure raises
`LoaderError` with a one-line reason a person understands. These functions run
inside a sandboxed child process (see `ingest.sandbox`): keep torch out of here.
"""

from __future__ import annotations

import io
import re
import resource
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ingest import hidden
from ingest.pdf_headings import PdfHeadingScan, heading_levels, mark_headings
from rag.types import PageSpan

MIN_TEXT_CHARS = 20  # fewer letters/digits than this in a whole file: nothing to index

# The extensions ingest reads, and the loader each goes to.
EXTENSION_KIND = {
    ".pdf": "pdf",
    ".docx": "docx",
    ".html": "html",
    ".htm": "html",
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
}
MIME = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "html": "text/html",
    "markdown": "text/markdown",
    "text": "text/plain",
}


class LoaderError(Exception):
    """A file that cannot be ingested; the message is shown to the admin as is.

    Reasons often quote a parser's message, which may quote the file itself: they are
    kept to one line of printable characters, so a hostile file cannot add lines to
    the job's summary or send control sequences to a terminal."""

    def __init__(self, reason: str) -> None:
        printable = "".join(ch if ch.isprintable() else " " for ch in str(reason))
        super().__init__(" ".join(printable.split()))


@dataclass(frozen=True)
class LoadedDocument:
    text: str
    pages: tuple[PageSpan, ...]
    title: str
    mime: str
    # What a reader of the file does not see but the index does (ingest.hidden).
    flags: tuple[str, ...] = ()


def kind_for(path: Path) -> str | None:
    return EXTENSION_KIND.get(path.suffix.lower())


def sniff(head: bytes) -> str:
    """What the first bytes of a file say it is, whatever its name."""
    stripped = head.lstrip()
    if b"%PDF-" in head[:1024]:
        return "pdf"
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    if re.match(rb"(?i)(<!doctype\s+html|<html|<head|<body)", stripped[:200]):
        return "html"
    if head.startswith((b"\xd0\xcf\x11\xe0", b"\x89PNG", b"\xff\xd8\xff", b"GIF8")):
        return "binary"
    if b"\x00" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "binary"
    return "text"


_SNIFF_NAMES = {
    "pdf": "a PDF",
    "zip": "a ZIP archive",
    "html": "an HTML page",
    "binary": "a binary file",
    "text": "plain text",
}


def _check_kind(kind: str, head: bytes, suffix: str) -> None:
    actual = sniff(head)
    expected = {"pdf": {"pdf"}, "docx": {"zip"}, "html": {"html", "text"}}.get(
        kind, {"text", "html"}
    )
    if actual not in expected:
        label = {"pdf": "PDF", "docx": "DOCX", "html": "HTML"}.get(kind, "text file")
        raise LoaderError(
            f"not a {label} despite the {suffix} name: the content looks like "
            f"{_SNIFF_NAMES[actual]}"
        )


def decode_text(data: bytes) -> str:
    """UTF-8 when it is, else the encoding charset-normalizer detects."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None:
        raise LoaderError("not readable as text: unknown encoding or binary content")
    return str(best)


_BLANK_RUNS = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)+")
_TRAILING_SPACE = re.compile(r"[ \t]+\n")


def normalise(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    text = _TRAILING_SPACE.sub("\n", text)
    return _BLANK_RUNS.sub("\n\n", text).strip()


def _require_text(text: str, what: str) -> None:
    if (
        sum(ch.isalnum() for ch in text[:10000]) < MIN_TEXT_CHARS
        and sum(ch.isalnum() for ch in text) < MIN_TEXT_CHARS
    ):
        raise LoaderError(what)


def _first_line(text: str, fallback: str) -> str:
    for line in text.splitlines():
        line = line.strip().lstrip("#").strip()
        if line:
            return line[:200]
    return fallback


def _single_page(text: str) -> tuple[PageSpan, ...]:
    return (PageSpan(1, 0, len(text)),)


# -- PDF --------------------------------------------------------------------------------


def load_pdf(data: bytes, name: str, max_pages: int) -> LoadedDocument:
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError, PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            try:
                # Many PDFs are "encrypted" with an empty user password only.
                if not reader.decrypt(""):
                    raise LoaderError("encrypted PDF, no password")
            except (FileNotDecryptedError, DependencyError, NotImplementedError) as exc:
                raise LoaderError("encrypted PDF, no password") from exc
        n_pages = len(reader.pages)
        if n_pages > max_pages:
            raise LoaderError(f"over the {max_pages:,}-page limit ({n_pages:,} pages)")
        parts: list[str] = []
        spans: list[PageSpan] = []
        offset = 0
        hidden_parts: list[str] = []
        hidden_pages: list[int] = []
        texts: list[str] = []
        scans: list[PdfHeadingScan] = []
        for number, page in enumerate(reader.pages, start=1):
            scans.append(PdfHeadingScan())
            raw, page_hidden = hidden.pdf_page_text(page, also=scans[-1].text)
            texts.append(normalise(raw))
            if page_hidden:
                hidden_parts += page_hidden
                hidden_pages.append(number)
        # Headings are told by type over the whole document: levels need every page.
        marked = zip(texts, scans, heading_levels(scans), strict=True)
        for number, (raw_text, scan, levels) in enumerate(marked, start=1):
            page_text = mark_headings(raw_text, scan, levels)
            if parts:
                offset += 2  # the "\n\n" that joins pages
            spans.append(PageSpan(number, offset, offset + len(page_text)))
            parts.append(page_text)
            offset += len(page_text)
        text = "\n\n".join(parts)
        meta_title = None
        try:
            meta_title = reader.metadata.title if reader.metadata else None
        except PyPdfError:
            meta_title = None
    except LoaderError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
        raise LoaderError(f"corrupt or truncated PDF ({type(exc).__name__}: {exc})"[:300]) from exc
    if n_pages == 0:
        raise LoaderError("PDF with no pages")
    _require_text(text, "no extractable text (scanned?)")
    title = (meta_title or "").strip() or _first_line(text, name)
    pages_named = ", ".join(map(str, hidden_pages[:10])) + ("…" if len(hidden_pages) > 10 else "")
    flags = [
        *hidden.hidden_flag(
            f"invisible, white or under-{hidden.MIN_FONT_PT:g}-pt text on page(s) {pages_named}",
            hidden_parts,
        ),
        *hidden.metadata_flags({"PDF title": meta_title}),
        *hidden.text_flags(text),
    ]
    return LoadedDocument(text, tuple(spans), title, MIME["pdf"], tuple(flags))


# -- DOCX -------------------------------------------------------------------------------

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_HEADING_STYLE = re.compile(r"(?i)^(heading|titre|überschrift|título)\s*(\d)$")


def _refuse_zip_bomb(data: bytes, what: str) -> None:
    """Refuse an archive whose members would inflate past this process's memory limit
    (the parser sandbox's address-space limit) before inflating any of them.
    python-docx reads every part whole into memory, and zipfile never inflates a member
    past the size it declares, so the declared sizes bound what parsing would take: a
    3 GB bomb otherwise fills the parser's memory for seconds before failing."""
    limit, _ = resource.getrlimit(resource.RLIMIT_AS)
    if limit == resource.RLIM_INFINITY:
        return
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            inflated = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, ValueError, EOFError):
        return  # not a readable archive: the parser says so
    if inflated > limit:
        raise LoaderError(
            f"decompression bomb: the {what} inflates to {inflated / 2**20:,.0f} MB, over "
            f"the parser's {limit / 2**20:,.0f} MB memory limit"
        )


def load_docx(data: bytes, name: str) -> LoadedDocument:
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    _refuse_zip_bomb(data, "DOCX")
    try:
        document = docx.Document(io.BytesIO(data))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise LoaderError(f"corrupt or truncated DOCX ({type(exc).__name__})") from exc
    except Exception as exc:  # python-docx raises its own PackageNotFoundError and lxml errors
        raise LoaderError(f"not a readable DOCX ({type(exc).__name__}: {exc})"[:300]) from exc

    body = document.element.body
    # Word records where it broke pages when it last rendered the file; when those
    # marks exist they are the real layout, else only explicit breaks are known.
    rendered = bool(body.findall(f".//{_W}lastRenderedPageBreak"))

    def breaks_in(element) -> int:  # type: ignore[no-untyped-def]
        if rendered:
            return len(element.findall(f".//{_W}lastRenderedPageBreak"))
        return sum(1 for br in element.iter(f"{_W}br") if br.get(f"{_W}type") == "page")

    blocks: list[tuple[int, str]] = []  # (page number, block text)
    page = 1
    for block in document.iter_inner_content():
        if isinstance(block, Paragraph):
            page += breaks_in(block._p)
            text = block.text.strip()
            if not text:
                continue
            style = block.style.name if block.style is not None else ""
            match = _HEADING_STYLE.match(style or "")
            if match:
                text = "#" * min(int(match.group(2)), 6) + " " + text
            elif style and style.lower() == "title":
                text = "# " + text
            blocks.append((page, text))
        elif isinstance(block, Table):
            page += breaks_in(block._tbl)
            rows = []
            for row in block.rows:
                cells = [c.text.strip() for c in row.cells]
                rows.append(" | ".join(cells))
            if any(r.strip(" |") for r in rows):
                blocks.append((page, "\n".join(rows)))

    parts: list[str] = []
    spans: list[PageSpan] = []
    offset = 0
    for number, text in blocks:
        if parts:
            offset += 2
        if spans and spans[-1].number == number:
            spans[-1] = PageSpan(number, spans[-1].start, offset + len(text))
        else:
            spans.append(PageSpan(number, offset, offset + len(text)))
        parts.append(text)
        offset += len(text)
    text = "\n\n".join(parts)
    _require_text(text, "no extractable text (empty document or only images)")
    meta_title = document.core_properties.title
    title = (meta_title or "").strip() or _first_line(text, name)
    flags = [
        *hidden.hidden_flag(
            f"runs hidden, white or under {hidden.MIN_FONT_PT:g} pt",
            hidden.docx_hidden_runs(body),
        ),
        *hidden.metadata_flags({"DOCX title": meta_title}),
        *hidden.text_flags(text),
    ]
    return LoadedDocument(text, tuple(spans), title, MIME["docx"], tuple(flags))


# -- HTML, Markdown, text ------------------------------------------------------------------


def load_html(data: bytes, name: str) -> LoadedDocument:
    import trafilatura

    html = decode_text(data)
    # trafilatura keeps the main content and drops navigation, menus and footers.
    text = trafilatura.extract(
        html,
        output_format="markdown",
        include_tables=True,
        include_links=False,
        include_images=False,
        include_comments=False,
        favor_recall=True,
    )
    if not text:
        text = trafilatura.html2txt(html) or ""
    text = normalise(text)
    _require_text(text, "no extractable text in this HTML page")
    metadata = trafilatura.extract_metadata(html)
    title = ((metadata.title if metadata else None) or "").strip() or _first_line(text, name)
    flags = [
        *hidden.hidden_flag(
            "elements hidden by the hidden attribute or an inline style",
            hidden.html_hidden_texts(html, text),
        ),
        *hidden.metadata_flags({"HTML title": metadata.title if metadata else None}),
        *hidden.text_flags(text),
    ]
    return LoadedDocument(text, _single_page(text), title, MIME["html"], tuple(flags))


_FRONT_MATTER = re.compile(r"\A---\n(.*?)\n(?:---|\.\.\.)\n", re.DOTALL)
_FM_TITLE = re.compile(r"(?m)^title:\s*['\"]?(.+?)['\"]?\s*$")


def load_markdown(data: bytes, name: str) -> LoadedDocument:
    text = normalise(decode_text(data))
    title = ""
    front = _FRONT_MATTER.match(text)
    if front:
        found = _FM_TITLE.search(front.group(1))
        title = found.group(1).strip() if found else ""
        text = text[front.end() :].lstrip()
    _require_text(text, "no text in this file (empty)")
    flags = (*hidden.markdown_flags(text), *hidden.text_flags(text))
    return LoadedDocument(
        text, _single_page(text), title or _first_line(text, name), MIME["markdown"], flags
    )


def load_text(data: bytes, name: str) -> LoadedDocument:
    text = normalise(decode_text(data))
    _require_text(text, "no text in this file (empty)")
    return LoadedDocument(
        text,
        _single_page(text),
        _first_line(text, name),
        MIME["text"],
        tuple(hidden.text_flags(text)),
    )


def load_bytes(data: bytes, kind: str, name: str, max_pages: int) -> LoadedDocument:
    """Parse a file's bytes as `kind`, checking first that the content matches."""
    if not data.strip():
        raise LoaderError("empty file")
    _check_kind(kind, data[:2048], Path(name).suffix.lower() or "file")
    if kind == "pdf":
        return load_pdf(data, name, max_pages)
    if kind == "docx":
        return load_docx(data, name)
    if kind == "html":
        return load_html(data, name)
    if kind == "markdown":
        return load_markdown(data, name)
    return load_text(data, name)
