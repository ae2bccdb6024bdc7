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


# -- files with hidden text (prompt injection carriers) ------------------------------------

VISIBLE = (
    "The travel policy says that employees book second-class train tickets for trips "
    "under four hours. Hotel nights are refunded up to one hundred and twenty euros."
)


def make_hidden_pdf(
    path: Path,
    hidden: str,
    how: str = "invisible",
    visible: str = VISIBLE,
    title: str | None = None,
    subject: str | None = None,
    annotation: str | None = None,
) -> Path:
    """A one-page PDF with `visible` text and `hidden` drawn `how`: "invisible" (render
    mode 3), "white" (white fill) or "tiny" (1 pt); or "none" (no hidden text). With
    `subject`, a /Subject and /Keywords; with `annotation`, a text note's /Contents."""
    from fpdf import FPDF
    from fpdf.enums import TextMode

    pdf = FPDF()
    if title:
        pdf.set_title(title)
    if subject:
        pdf.set_subject(subject)
        pdf.set_keywords(subject)
    pdf.set_font("Helvetica", size=11)
    pdf.add_page()
    pdf.multi_cell(0, 6, visible, new_x="LMARGIN", new_y="NEXT")
    if how != "none":
        if how == "invisible":
            pdf.text_mode = TextMode.INVISIBLE
        elif how == "white":
            pdf.set_text_color(255, 255, 255)
        elif how == "tiny":
            pdf.set_font_size(1)
        pdf.multi_cell(0, 6 if how != "tiny" else 1, hidden, new_x="LMARGIN", new_y="NEXT")
        pdf.text_mode = TextMode.FILL
        pdf.set_text_color(0, 0, 0)
        pdf.set_font_size(11)
    pdf.multi_cell(0, 6, "Questions go to the travel desk.", new_x="LMARGIN", new_y="NEXT")
    if annotation:
        pdf.text_annotation(10, 10, annotation)
    pdf.output(str(path))
    return path


def make_hidden_docx(
    path: Path, hidden: str, how: str = "vanish", title: str | None = None
) -> Path:
    """A DOCX with VISIBLE text and a run of `hidden` formatted `how`: "vanish" (Word's
    hidden property), "white" or "tiny" (1 pt)."""
    import docx
    from docx.shared import Pt, RGBColor

    document = docx.Document()
    if title:
        document.core_properties.title = title
    paragraph = document.add_paragraph(VISIBLE + " ")
    run = paragraph.add_run(hidden)
    if how == "vanish":
        run.font.hidden = True
    elif how == "white":
        run.font.color.rgb = RGBColor(0xFF, 0xFF, 0xFF)
    elif how == "tiny":
        run.font.size = Pt(1)
    document.add_paragraph("Questions go to the travel desk.")
    document.save(str(path))
    return path


def hidden_html(hidden: str, how: str = "display") -> str:
    """An HTML page with VISIBLE text and `hidden` in an element hidden `how`."""
    attr = {
        "display": 'style="display:none"',
        "visibility": 'style="visibility: hidden"',
        "attribute": "hidden",
        "font": 'style="font-size:0"',
        "white": 'style="color:#fff"',
        "aria": 'aria-hidden="true"',
    }[how]
    return (
        "<!DOCTYPE html><html><head><title>Travel policy</title></head><body><article>"
        f"<h1>Travel policy</h1><p>{VISIBLE}</p><p {attr}>{hidden}</p>"
        "<p>Questions go to the travel desk, who answer within two working days.</p>"
        "</article></body></html>"
    )
