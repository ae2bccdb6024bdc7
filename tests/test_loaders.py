from __future__ import annotations

from pathlib import Path

import pytest

from ingest.loaders import LoaderError, load_bytes, sniff
from tests.files import (
    HTML_PAGE,
    make_docx,
    make_encrypted_pdf,
    make_pdf,
    make_scanned_pdf,
)


def load(path: Path, kind: str, max_pages: int = 100):
    return load_bytes(path.read_bytes(), kind, path.name, max_pages)


def test_pdf_keeps_pages_and_title(tmp_path: Path) -> None:
    pages = [
        "Page one talks about annual leave and holidays.",
        "Page two covers expense reports and receipts.",
        "Page three explains remote work rules.",
    ]
    doc = load(make_pdf(tmp_path / "h.pdf", pages, title="Employee handbook"), "pdf")
    assert doc.title == "Employee handbook"
    assert [p.number for p in doc.pages] == [1, 2, 3]
    for span, expected in zip(doc.pages, pages, strict=True):
        assert doc.text[span.start : span.end] == expected
    assert doc.mime == "application/pdf"


def test_pdf_title_falls_back_to_first_line(tmp_path: Path) -> None:
    doc = load(make_pdf(tmp_path / "x.pdf", ["Guide des congés\nDu texte en plus ici."]), "pdf")
    assert doc.title == "Guide des congés"


def test_pdf_with_empty_user_password_opens(tmp_path: Path) -> None:
    doc = load(make_encrypted_pdf(tmp_path / "e.pdf", user_password=""), "pdf")
    assert "Secret text" in doc.text


def test_docx_headings_tables_and_page_breaks(tmp_path: Path) -> None:
    path = make_docx(
        tmp_path / "p.docx",
        [
            ("h1", "Travel policy"),
            ("p", "Trains are second class for short trips."),
            ("pagebreak", ""),
            ("h2", "Hotels"),
            ("p", "Hotel nights are capped at 120 euros in Paris."),
        ],
        title="Policy",
        table=[["City", "Cap"], ["Paris", "120"]],
    )
    doc = load(path, "docx")
    assert doc.title == "Policy"
    assert "# Travel policy" in doc.text
    assert "## Hotels" in doc.text
    assert "Paris | 120" in doc.text
    by_page = {p.number: doc.text[p.start : p.end] for p in doc.pages}
    assert "second class" in by_page[1]
    assert "capped at 120" in by_page[2] and "capped at 120" not in by_page[1]


def test_html_keeps_main_text_without_navigation(tmp_path: Path) -> None:
    path = tmp_path / "t.html"
    path.write_text(HTML_PAGE, encoding="utf-8")
    doc = load(path, "html")
    assert doc.title == "Politique de télétravail"
    assert "deux jours par semaine" in doc.text
    assert "cinquante euros par mois" in doc.text
    assert "Menu principal navigation" not in doc.text
    assert "footer links" not in doc.text


def test_markdown_front_matter_title(tmp_path: Path) -> None:
    path = tmp_path / "m.md"
    path.write_text("---\ntitle: 'Guide RH'\nlang: fr\n---\n\n# Intro\n\nDu texte pour le guide.\n")
    doc = load(path, "markdown")
    assert doc.title == "Guide RH"
    assert doc.text.startswith("# Intro")


@pytest.mark.parametrize("encoding", ["latin-1", "cp1252", "utf-16"])
def test_text_encoding_detection(tmp_path: Path, encoding: str) -> None:
    text = "Les salariés bénéficient de congés payés supplémentaires après dix ans d'ancienneté."
    path = tmp_path / "t.txt"
    path.write_bytes(text.encode(encoding))
    assert load(path, "text").text == text


# -- bad input: each gets a one-line reason a person understands --------------------------


def test_encrypted_pdf_without_password(tmp_path: Path) -> None:
    path = make_encrypted_pdf(tmp_path / "e.pdf", user_password="s3cret")
    with pytest.raises(LoaderError, match=r"^encrypted PDF, no password$"):
        load(path, "pdf")


def test_html_named_pdf(tmp_path: Path) -> None:
    path = tmp_path / "fake.pdf"
    path.write_text(HTML_PAGE)
    with pytest.raises(LoaderError, match=r"not a PDF despite the \.pdf name.*HTML"):
        load(path, "pdf")


def test_pdf_named_docx(tmp_path: Path) -> None:
    path = tmp_path / "fake.docx"
    path.write_bytes(make_pdf(tmp_path / "real.pdf", ["Some words on a page."]).read_bytes())
    with pytest.raises(LoaderError, match=r"not a DOCX despite the \.docx name.*PDF"):
        load(path, "docx")


def test_truncated_pdf(tmp_path: Path) -> None:
    full = make_pdf(tmp_path / "full.pdf", ["Truncated document text. " * 30] * 3).read_bytes()
    path = tmp_path / "cut.pdf"
    path.write_bytes(full[: len(full) // 3])
    with pytest.raises(LoaderError, match=r"corrupt or truncated PDF|no extractable text"):
        load(path, "pdf")


def test_garbage_after_pdf_header(tmp_path: Path) -> None:
    path = tmp_path / "junk.pdf"
    path.write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 40)
    with pytest.raises(LoaderError, match=r"corrupt or truncated PDF"):
        load(path, "pdf")


def test_scanned_pdf(tmp_path: Path) -> None:
    with pytest.raises(LoaderError, match=r"^no extractable text \(scanned\?\)$"):
        load(make_scanned_pdf(tmp_path / "scan.pdf"), "pdf")


def test_pdf_page_limit(tmp_path: Path) -> None:
    path = make_pdf(tmp_path / "long.pdf", [f"Page {i} text here." for i in range(5)])
    with pytest.raises(LoaderError, match=r"over the 3-page limit \(5 pages\)"):
        load(path, "pdf", max_pages=3)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.md"
    path.write_bytes(b"")
    with pytest.raises(LoaderError, match=r"^empty file$"):
        load(path, "markdown")


def test_corrupt_docx(tmp_path: Path) -> None:
    path = tmp_path / "broken.docx"
    path.write_bytes(b"PK\x03\x04" + b"\x00garbage" * 100)
    with pytest.raises(LoaderError, match=r"DOCX"):
        load(path, "docx")


def test_binary_named_txt(tmp_path: Path) -> None:
    path = tmp_path / "image.txt"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    with pytest.raises(LoaderError, match=r"not a text file despite the \.txt name"):
        load(path, "text")


def test_sniff() -> None:
    assert sniff(b"%PDF-1.4 ...") == "pdf"
    assert sniff(b"PK\x03\x04rest") == "zip"
    assert sniff(b"  <!DOCTYPE html><html>") == "html"
    assert sniff("Bonjour à tous".encode()) == "text"


def test_pdf_headings_are_told_by_their_type(tmp_path: Path) -> None:
    # The demo handbook: its title in 16-pt bold, section headings in 13-pt bold, body
    # text in 11-pt regular. The headings become Markdown headings, so the chunker cuts
    # the page's two sections apart.
    from ingest.demo import write_handbook_pdf

    path = tmp_path / "livret.pdf"
    write_handbook_pdf(path)
    doc = load(path, "pdf")
    page_two = doc.text[doc.pages[1].start : doc.pages[1].end]
    lines = page_two.splitlines()
    assert lines[0] == "## Congés payés"
    assert "## Congés pour événements familiaux" in lines
    assert sum(line.startswith("#") for line in lines) == 2, "body lines stay text"
    assert doc.text.startswith("# Nordlys Conseil - Livret d'accueil du salarié\n")
    assert doc.title == "Nordlys Conseil - Livret d'accueil du salarié"


def test_pdf_set_in_one_type_has_no_headings(tmp_path: Path) -> None:
    # Short lines of body type ("Horaires" on a line of its own) are not headings.
    pages = ["Horaires\nLes bureaux ouvrent à 8 h et ferment à 19 h chaque jour ouvré."]
    doc = load(make_pdf(tmp_path / "plain.pdf", pages), "pdf")
    assert "#" not in doc.text


def _columned_pdf(path: Path, blocks: list[tuple[str, int, str]], width: float = 80) -> Path:
    """(style, size, text) blocks in a narrow column, so long lines wrap."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    for style, size, text in blocks:
        pdf.set_font("Helvetica", style, size)
        pdf.multi_cell(width, 6, text, new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))
    return path


BODY = (
    "Les frais de transport sont remboursés sur justificatif, dans la limite du barème "
    "en vigueur, après validation par le responsable hiérarchique du salarié concerné."
)


def test_a_wrapped_heading_is_one_heading_and_a_bold_sentence_none(tmp_path: Path) -> None:
    blocks = [
        ("B", 14, "Politique de remboursement des frais professionnels"),
        ("", 11, BODY),
        ("B", 11, "Les mots de passe doivent compter au moins 14 caractères et être changés."),
        ("", 11, BODY),
        ("", 11, "Sécurité"),  # a body line repeating a heading's words: still body
        ("B", 14, "Sécurité"),
        ("", 11, BODY),
    ]
    doc = load(_columned_pdf(tmp_path / "c.pdf", blocks), "pdf")
    heads = [line for line in doc.text.splitlines() if line.startswith("#")]
    assert heads == ["# Politique de remboursement des frais professionnels", "# Sécurité"]
    assert "\nSécurité\n" in doc.text
    assert "## Les mots" not in doc.text and "# Les mots" not in doc.text
