"""Generate real test files (PDF, DOCX, HTML, broken ones) instead of committing binaries."""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path


def make_pdf(path: Path, pages: list[str], title: str | None = None) -> Path:
    from fpdf import FPDF

    pdf = FPDF()
    if title:
        pdf.set_title(title)
    pdf.set_font("Helvetica", size=11)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 6, text, new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))
    return path


def make_scanned_pdf(path: Path, n_pages: int = 2) -> Path:
    """Pages with only drawn shapes, as a scanned document would have images."""
    from fpdf import FPDF

    pdf = FPDF()
    for _ in range(n_pages):
        pdf.add_page()
        pdf.set_fill_color(40, 40, 40)
        for row in range(20):
            pdf.rect(20, 20 + row * 10, 150, 4, style="F")
    pdf.output(str(path))
    return path


def make_encrypted_pdf(path: Path, user_password: str, text: str = "Secret text " * 20) -> Path:
    from pypdf import PdfReader, PdfWriter

    plain = io.BytesIO()
    make_pdf(path, [text])
    reader = PdfReader(str(path))
    writer = PdfWriter()
    for page in reader.pages:
        writer.add_page(page)
    writer.encrypt(user_password=user_password, owner_password="owner-secret", algorithm="RC4-128")
    writer.write(plain)
    path.write_bytes(plain.getvalue())
    return path


def make_docx(
    path: Path,
    blocks: list[tuple[str, str]],
    title: str | None = None,
    table: list[list[str]] | None = None,
) -> Path:
    """blocks: ("h1"|"h2"|"p"|"pagebreak", text)."""
    import docx

    document = docx.Document()
    if title:
        document.core_properties.title = title
    for kind, text in blocks:
        if kind == "pagebreak":
            document.add_page_break()
        elif kind.startswith("h"):
            document.add_heading(text, level=int(kind[1:]))
        else:
            document.add_paragraph(text)
    if table:
        t = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, value in enumerate(row):
                t.cell(r, c).text = value
    document.save(str(path))
    return path


HTML_PAGE = """<!DOCTYPE html>
<html><head><title>Politique de télétravail</title></head>
<body>
<nav><ul><li><a href="/">Accueil</a></li><li><a href="/menu">Menu principal navigation</a></li>
</ul></nav>
<article>
<h1>Politique de télétravail</h1>
<p>Le télétravail est autorisé deux jours par semaine après la période d'essai,
avec l'accord écrit du manager et un équipement fourni par l'entreprise.</p>
<h2>Indemnité</h2>
<p>Une indemnité forfaitaire de deux euros cinquante est versée par jour de télétravail,
dans la limite de cinquante euros par mois, avec le salaire du mois suivant.</p>
</article>
<footer>Copyright intranet footer links</footer>
</body></html>
"""


def release_fifo(fifo: Path) -> None:
    """Unblock a reader stuck opening `fifo` (a test that failed because ingest opened
    it): opening the other end lets the open return, and closing it gives EOF."""
    with contextlib.suppress(OSError):  # no reader waiting
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
