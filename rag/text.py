"""Language identification and the full-text query built from a question.

The question's language picks the answer's language, the "not found" message,
and the stemmer used for the BM25 query. Stemmed terms become FTS5 prefix
queries (`fraction*` finds "fractionnement" and "fractionné"), which gives French
the light morphology that FTS5's unicode61 tokenizer lacks.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Iterator
from functools import lru_cache

SUPPORTED_LANGUAGES = ("fr", "en")

_WORD = re.compile(r"\w+", re.UNICODE)

# Function words that carry no topic: dropping them keeps BM25 from matching
# every chunk on "de", "la", "the", "what".
_STOPWORDS = {
    "fr": set(
        """a à afin ai aie aient ainsi alors au aucun aussi autre aux avec avoir avons
        bon c ça car ce ceci cela celle celles celui ces cet cette ceux chaque chez ci
        combien comme comment d dans de des du donc dont elle elles en encore est et étaient
        été être eu eux fait faut il ils j je jusqu l la le les leur leurs lors lui m
        ma mais me même mes moi mon n ne ni nos notre nous on ont ou où par pas peut
        peuvent peux plus pour pourquoi qu quand que quel quelle quelles quels qui quoi
        s sa sans se ses si son sont sous sur ta te tes toi ton tous tout toute toutes
        très tu un une vos votre vous y""".split()
    ),
    "en": set(
        """a about after all also an and any are as at be been before being but by can
        could did do does doing for from had has have having he her his how i if in
        into is it its many me much my no not of on or our out she should so some than that the
        their them then there these they this those to too up us was we were what
        when where which who whom why will with would you your""".split()
    ),
}


@lru_cache(maxsize=1)
def _identifier():  # type: ignore[no-untyped-def]
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)  # npz, no pickle
    identifier.set_languages(list(SUPPORTED_LANGUAGES))
    return identifier


def detect_language(text: str, default: str = "fr") -> str:
    """'fr' or 'en'. Very short or ambiguous text falls back to `default` (an
    answer's steps pass the question's language: a passage that could be either is
    read as being in it, by all of them)."""
    lang, prob = _classify(text)
    return lang if lang and prob >= 0.6 else default


@lru_cache(maxsize=4096)
def _classify(text: str) -> tuple[str, float]:
    """The identifier's language and probability, once per text: an answer asks it
    of each source at several steps (ordering, prompt, answerability, verification).
    ("", 0) for text under two words."""
    if len(_WORD.findall(text)) < 2:
        return "", 0.0
    lang, prob = _identifier().classify(text)
    return str(lang), float(prob)


_per_thread = threading.local()


def _stemmer(lang: str):  # type: ignore[no-untyped-def]
    """This thread's stemmer for `lang`. A snowballstemmer stemmer keeps the word it
    is stemming in the object, so one shared by threads (the server's search thread
    and each answer's) garbles stems or raises IndexError: each thread gets its own."""
    stemmers = getattr(_per_thread, "stemmers", None)
    if stemmers is None:
        stemmers = _per_thread.stemmers = {}
    stemmer = stemmers.get(lang)
    if stemmer is None:
        import snowballstemmer

        stemmer = stemmers[lang] = snowballstemmer.stemmer("french" if lang == "fr" else "english")
    return stemmer


def fold(text: str) -> str:
    """Lower case without diacritics, as FTS5's remove_diacritics 2 indexes them, and
    typographic apostrophes as plain ones."""
    decomposed = unicodedata.normalize("NFD", text.lower().replace("’", "'"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def query_terms(question: str, lang: str) -> list[str]:
    """Content words of the question, stopwords removed, in order, deduplicated."""
    stop = _STOPWORDS.get(lang, set()) | _STOPWORDS["fr"] | _STOPWORDS["en"]
    seen: dict[str, None] = {}
    for word in _WORD.findall(question):
        low = word.lower()
        if low in stop or (len(low) < 2 and not low.isdigit()):
            continue
        seen.setdefault(low, None)
    return list(seen)


def _query_words(question: str, lang: str, min_prefix: int) -> Iterator[tuple[str, str, bool]]:
    """(folded word, folded stem, whether the stem is searched as a prefix) for each
    content word of the question: as a prefix when the stem has at least `min_prefix`
    letters and the word starts with it (shorter stems would match unrelated words)."""
    for word in query_terms(question, lang):
        folded = fold(word)
        stem = folded if word.isdigit() else fold(_stemmer(lang).stemWord(word.lower()))
        yield folded, stem, bool(min_prefix) and len(stem) >= min_prefix and folded.startswith(stem)


def fts_query(question: str, lang: str, min_prefix: int = 5, max_terms: int = 32) -> str | None:
    """An FTS5 MATCH expression: each content word OR-ed, as a prefix query on its
    stem, else as the word and its stem. None if no word is left."""
    parts: list[str] = []
    for folded, stem, prefix in list(_query_words(question, lang, min_prefix))[:max_terms]:
        if prefix:
            parts.append(f'"{stem}"*')
        else:
            parts.append(f'"{folded}"')
            if stem and stem != folded:
                parts.append(f'"{stem}"')
    return " OR ".join(dict.fromkeys(parts)) or None


def stem_terms(question: str, lang: str, min_prefix: int = 5) -> dict[str, tuple[str, bool]]:
    """Each content word's folded stem (as `content_stems` gives it) with the FTS5 token
    that finds it, as `fts_query` searches it: (the stem, True) for a prefix, else
    (the folded word, False)."""
    terms: dict[str, tuple[str, bool]] = {}
    for folded, stem, prefix in _query_words(question, lang, min_prefix):
        terms.setdefault(stem, (stem, True) if prefix else (folded, False))
    return terms


def content_words(text: str, lang: str) -> list[tuple[int, int, str]]:
    """(start, end, folded stem) of each content word of `text`, in order (numbers
    kept as they are)."""
    stop = _STOPWORDS["fr"] | _STOPWORDS["en"]
    stemmer = _stemmer(lang)
    out = []
    for match in _WORD.finditer(text):
        word = match.group().lower()
        if word in stop or (len(word) < 2 and not word.isdigit()):
            continue
        out.append(
            (match.start(), match.end(), word if word.isdigit() else fold(stemmer.stemWord(word)))
        )
    return out


def content_stems(text: str, lang: str) -> set[str]:
    """Folded stems of the content words of `text` (numbers kept as they are)."""
    return {stem for _, _, stem in content_words(text, lang)}


# A sentence ends at . ! ? followed by space and a capital (or an opening mark), or
# at a blank line. Single newlines do not end sentences: PDF text is hard-wrapped.
_SENTENCE_BREAK = re.compile(r"(?<=[.!?…])\s+(?=[A-ZÀ-ÖØ-Þ«\"(\[#-])|\n\s*\n")


def sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence of `text`, surrounding spaces excluded."""
    spans = []
    start = 0
    for match in _SENTENCE_BREAK.finditer(text):
        spans.append((start, match.start()))
        start = match.end()
    spans.append((start, len(text)))
    out = []
    for s, e in spans:
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            out.append((s, e))
    return out
