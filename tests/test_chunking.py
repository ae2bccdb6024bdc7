from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.chunking import ChunkConfig, Chunker, headings, tokenizer_file
from rag.embedding import resolve_model_path
from rag.types import PageSpan


@pytest.fixture(scope="module")
def chunker() -> Chunker:
    path = tokenizer_file(resolve_model_path("all-MiniLM-L6-v2"))
    return Chunker(ChunkConfig(path, chunk_tokens=40, overlap_tokens=8))


def _pages(texts: list[str]) -> tuple[str, tuple[PageSpan, ...]]:
    spans, offset = [], 0
    for i, t in enumerate(texts):
        if i:
            offset += 2
        spans.append(PageSpan(i + 1, offset, offset + len(t)))
        offset += len(t)
    return "\n\n".join(texts), tuple(spans)


def test_offsets_point_at_the_chunk_text(chunker: Chunker) -> None:
    text = " ".join(f"Phrase numéro {i} sur les congés payés." for i in range(60))
    chunks = chunker.split(text, (PageSpan(1, 0, len(text)),))
    assert len(chunks) > 3
    for c in chunks:
        assert text[c.start : c.end] == c.text
        assert c.n_tokens <= 40
    assert chunks[0].start == 0
    assert chunks[-1].end == len(text)


def test_chunks_overlap(chunker: Chunker) -> None:
    text = " ".join(f"mot{i}" for i in range(300))
    chunks = chunker.split(text, (PageSpan(1, 0, len(text)),))
    for a, b in itertools.pairwise(chunks):
        assert b.start < a.end, "consecutive chunks share their overlap"


def test_pages_of_each_chunk(chunker: Chunker) -> None:
    page_texts = [f"Texte de la page {n}. " * 12 for n in range(1, 4)]
    text, pages = _pages(page_texts)
    chunks = chunker.split(text, pages)
    for c in chunks:
        first = next(p for p in pages if p.start <= c.start <= p.end)
        assert c.page_start == first.number
        assert c.page_start <= c.page_end
        assert f"page {c.page_start}" in c.text
    assert {c.page_start for c in chunks} == {1, 2, 3}
    assert any(c.page_start != c.page_end for c in chunks) or len(chunks) >= 3


def test_heading_path_and_split_at_headings(chunker: Chunker) -> None:
    text = (
        "# Guide\n\nIntro du guide.\n\n## Congés\n\nLes congés sont de 25 jours.\n\n"
        "### Mariage\n\nCinq jours pour un mariage.\n\n## Frais\n\nLes frais sont remboursés."
    )
    chunks = Chunker(
        ChunkConfig(chunker.config.tokenizer_file, chunk_tokens=16, overlap_tokens=0)
    ).split(text, (PageSpan(1, 0, len(text)),))
    by_text = {c.text.splitlines()[0]: c.heading for c in chunks}
    assert by_text["### Mariage"] == "Guide > Congés > Mariage"
    assert by_text["## Frais"] == "Guide > Frais"
    assert all(not c.text.startswith("\n") for c in chunks)


def test_headings_inside_code_fences_are_ignored() -> None:
    text = "# Vrai titre\n\n```bash\n# un commentaire\n```\n\n## Autre"
    assert [h[2] for h in headings(text)] == ["Vrai titre", "Autre"]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.text(
            alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
            min_size=0,
            max_size=300,
        ),
        min_size=1,
        max_size=4,
    )
)
def test_offsets_hold_for_any_text(chunker: Chunker, page_texts: list[str]) -> None:
    text, pages = _pages(page_texts)
    for c in chunker.split(text, pages):
        assert text[c.start : c.end] == c.text
        assert c.text.strip()
        assert 1 <= c.page_start <= c.page_end <= len(pages)


def test_a_title_is_never_a_chunk_of_its_own(chunker: Chunker) -> None:
    body = " ".join(f"The wall was built in year {i} for reasons of state." for i in range(12))
    text = f"Berlin Wall\n\n{body}"
    chunks = Chunker(ChunkConfig(chunker.config.tokenizer_file, 120, 10)).split(
        text, (PageSpan(1, 0, len(text)),)
    )
    assert chunks[0].text.startswith("Berlin Wall\n\nThe wall")
    assert all(c.n_tokens >= 24 for c in chunks)
    for c in chunks:
        assert text[c.start : c.end] == c.text


def test_a_chunk_never_spans_two_sections(chunker: Chunker) -> None:
    # A short policy fits one chunk; each of its sections is a chunk of its own all
    # the same, so a question on one section is not matched against the others.
    sections = {
        "Travel": "Train travel is second class for trips under 4 hours. Hotel nights are "
        "capped at 120 euros in Paris and 90 euros elsewhere.",
        "Meals": "Meals during business travel are reimbursed up to 25 euros per meal. "
        "Alcohol is never reimbursed.",
        "Expenses": "Expense reports are submitted in the finance tool within 30 days of the "
        "expense, with a scanned receipt for every item above 10 euros.",
    }
    text = "# Travel and Expense Policy\n\n" + "\n\n".join(
        f"## {title}\n\n{body}" for title, body in sections.items()
    )
    chunks = Chunker(ChunkConfig(chunker.config.tokenizer_file, 200, 30)).split(
        text, (PageSpan(1, 0, len(text)),)
    )
    assert [c.heading for c in chunks] == [
        "Travel and Expense Policy > Travel",  # the title alone joins the first section
        "Travel and Expense Policy > Meals",
        "Travel and Expense Policy > Expenses",
    ]
    assert chunks[0].text.startswith("# Travel and Expense Policy\n\n## Travel\n\n")
    for chunk, body in zip(chunks, sections.values(), strict=True):
        assert chunk.text.endswith(body)
        assert text[chunk.start : chunk.end] == chunk.text


def test_a_short_section_is_a_chunk_of_its_own(chunker: Chunker) -> None:
    # Under the tiny-chunk size, with its heading: still not merged into a neighbour,
    # whether in the middle or at the end.
    text = (
        "# Policy\n\n## Scope\n\nApplies to all staff.\n\n## Travel\n\nTrain travel is second "
        "class for trips under 4 hours. Hotel nights are capped at 120 euros in Paris and "
        "90 euros elsewhere.\n\n## Contact\n\nhr@example.com"
    )
    chunks = Chunker(ChunkConfig(chunker.config.tokenizer_file, 200, 30)).split(
        text, (PageSpan(1, 0, len(text)),)
    )
    assert [(c.heading, c.text.splitlines()[-1]) for c in chunks] == [
        ("Policy > Scope", "Applies to all staff."),
        ("Policy > Travel", chunks[1].text.splitlines()[-1]),
        ("Policy > Contact", "hr@example.com"),
    ]
    assert chunks[0].text.startswith("# Policy\n\n## Scope")
    assert "Hotel nights" in chunks[1].text and "Scope" not in chunks[1].text


def test_a_hash_alone_on_a_line_is_no_heading() -> None:
    assert headings("Intro.\n#\n\nNot a heading but text\n\n## Real one") == [
        (len("Intro.\n#\n\nNot a heading but text\n\n"), 2, "Real one")
    ]
