"""Evidence at sentence level: which sentences of the retrieved passages bear on the
question, and which one supports a claim of the answer.

A passage retrieved for "Combien de jours de congé pour un mariage ?" often holds
several figures ("25 jours ouvrés de congés payés", "5 jours pour un mariage"). The
sentence that answers is the one carrying the question's most specific words, so each
question word is weighed by how rare it is among the sentences of the passages at
hand (an inverse sentence frequency): "mariage" appears in one sentence, "jours" in
many. Across languages no word is shared, and a multilingual sentence encoder
(rag.multilingual) measures the same thing as a cosine.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from rag.answer.rates import adjective_period, rate_weight, stated_rates
from rag.text import content_stems, content_words, detect_language, fold, sentences

# Turns texts into unit vectors in one space for every language (rag.multilingual).
Encode = Callable[[list[str]], np.ndarray]

# A sentence opening with a personal pronoun or a possessive speaks of what the sentence
# before it named ("She is portrayed by…", "Il dure 5 jours.", "Son montant est…").
# Demonstratives ("Cette aide…", "This…") are left out: they as often name something new.
_CONTINUES = re.compile(
    r"[\s*_#>`•–—-]*(?:il|elle|ils|elles|son|sa|ses|leur|leurs|he|she|it|they|his|her|its"
    r"|their)\b",
    re.I,
)

# A noun named again with a demonstrative ("En dehors de ces horaires…", "Beyond these
# limits…") names what the sentence before it stated: that sentence is about it too.
_DEMONSTRATIVE = re.compile(r"\b(?:ce|cet|cette|ces|this|these|those)\s+([^\W\d_][\w'-]*)", re.I)

# What ends a phrase of the question between two words: punctuation other than an
# apostrophe or a hyphen ("repas, transport", "(repas)", "repas ? Et").
_PHRASE_BREAK = re.compile(r"[^\w\s'\u2019-]")

# Modal verbs name no topic, yet the stop lists keep them ("doit" tells an obligation
# from a permission in the support check, and is a BM25 term whose removal moved spf
# answers). A source saying "reports are submitted within 30 days" does not hold the
# question's "must", and the judge of mentions, asked whether it speaks of "must",
# said no (0.40-0.49) and removed the right answer. ("peut", "faut" are stop words.)
_MODALS = frozenset(
    """must might shall ought need may doit doivent dois devez devons devra devront
    devrait devraient devrais devoir pourra pourront pourrait pourraient pourrais
    pouvez pouvons pouvoir faudra faudrait""".split()
)


def _modal(text: str, start: int, end: int) -> bool:
    """Is text[start:end] a modal verb? "May" inside a sentence is the month."""
    word = text[start:end]
    if word.lower() not in _MODALS:
        return False
    return word.lower() != "may" or word == "may" or not text[:start].strip()


# "1 000" (French thousands, with a space or a no-break space), "2,50", "2.5", "14".
NUMBER = re.compile(r"\d{1,3}(?:[ \u00a0\u202f]\d{3})+(?![\d])|\d+(?:[.,]\d+)?")


# A time of day on the hour, "18:00", "18h00" or "18 h 00": the hour alone, as "18 h"
# says it. Translated, the demo's "de 8 h 30 à 18 h" became "from 8:30 to 18:00", whose
# "00" no source states.
_ON_THE_HOUR = re.compile(r"(?<![\d.,])(\d{1,2}) ?[:hH] ?00(?!\d)")


# A time of day on the 12-hour clock, "6:00 PM", "8:30 a.m.", "6pm": on the 24-hour
# clock, as French sources write it ("18 h", "8 h 30"). Translated into English, "de 8 h
# 30 à 18 h" became "from 8:30 AM to 6:00 PM".
_TWELVE_HOUR = re.compile(r"(?<![\d.,])(\d{1,2})(?:[:.](\d{2}))?\s?([ap])\.?m\b\.?", re.I)


def _on_24_hours(match: re.Match[str]) -> str:
    hour = int(match.group(1)) % 12 + (12 if match.group(3).lower() == "p" else 0)
    return f"{hour} h {match.group(2)}" if match.group(2) else f"{hour} h"


def numbers(text: str) -> set[str]:
    """The numbers a text states, written one way: thousands joined ("1 000" = "1000"),
    decimal commas as points ("2,50" = "2.50"), a time of day on the 24-hour clock and
    on the hour as its hour ("6:00 PM" = "18:00" = "18 h" = "18")."""
    text = _ON_THE_HOUR.sub(r"\1", _TWELVE_HOUR.sub(_on_24_hours, text))
    return {re.sub(r"[ \u00a0\u202f]", "", n).replace(",", ".") for n in NUMBER.findall(text)}


# Capitalised words, joined by particles ("Ministry of Labour", "Président de la
# République"), in a text whose elided articles are blanked ("l'AME", "d'État").
_UPPER = "A-ZÀ-ÖØ-ÞŒŸ"
_NAME_RUN = re.compile(
    rf"(?<![\w'\u2019-])[{_UPPER}][\w-]*"
    rf"(?:\s+(?:(?:of|the|de|du|des|la|le)\s+)*[{_UPPER}][\w-]*)*"
)
_ELIDED = re.compile(r"\b(?:[cdjlmnst]|qu)['\u2019](?=\w)", re.I)
# What may open a sentence: its end, a colon, a quote or bracket, a citation marker,
# a list's dash or bullet, a line break; Markdown's emphasis and heading marks are
# looked through ("**Le PPRE** est…", "- Le congé…", "[1] Le salarié…").
_OPENS = '.!?:;«"([]—–-•…\n'
_MARKUP = " \t*_#>`"


def names(text: str) -> list[str]:
    """The names a sentence states: runs of capitalised words, the word opening the
    sentence left out ("United States", "Conseil d'État"), and acronyms anywhere
    ("CSE", "l'AME"). What a claim names, like the figures it states, is something its
    source must speak of: across languages the multilingual cosine put "a president of
    the United States" close to "le Président de la République" (0.51)."""
    masked = _ELIDED.sub(lambda m: " " * len(m.group()), text)
    found: list[str] = []
    for match in _NAME_RUN.finditer(masked):
        start, end = match.span()
        before = masked[:start].rstrip(_MARKUP)
        if not before.strip() or before[-1] in _OPENS or before.rstrip()[-1] in _OPENS:
            first = re.match(r"\S+", match.group())
            assert first is not None
            if len(first.group()) >= 2 and first.group().isupper():
                found.append(first.group())  # an acronym opening the sentence
            after = _NAME_RUN.search(masked, start + first.end(), end)
            if after is None:
                continue
            start = after.start()
        if end - start >= 2:
            found.append(text[start:end])
    return list(dict.fromkeys(found))


def spells_out(text: str, name: str) -> bool:
    """Does the text name this, as a whole word or words, whatever its case, accents,
    hyphens and line breaks ("Président de la\nRépublique", "Ile de France" for
    "Île-de-France"; "AME" is not in "examen")?"""

    def normal(s: str) -> str:
        return " ".join(fold(s).replace("-", " ").split())

    return re.search(rf"(?<!\w){re.escape(normal(name))}(?!\w)", normal(text)) is not None


def term_weights(question_stems: set[str], sentence_stems: Sequence[set[str]]) -> dict[str, float]:
    """Each question stem found in at least one sentence, weighed by how few sentences
    hold it: log(1 + N / df). Stems no sentence holds cannot tell sentences apart and
    get no weight."""
    n = len(sentence_stems)
    weights: dict[str, float] = {}
    for stem in question_stems:
        df = sum(1 for stems in sentence_stems if stem in stems)
        if df:
            weights[stem] = math.log(1.0 + n / df)
    return weights


def rarity(counts: dict[str, int], chunks: int) -> dict[str, float]:
    """Each term's weight from how many of the store's chunks hold it:
    log((N + 1) / (n + 0.5)). A word no chunk holds ("présidentielle" in a store
    that only speaks of legislative elections) weighs most."""
    return {term: math.log((chunks + 1) / (n + 0.5)) for term, n in counts.items()}


def weighted_coverage(weights: dict[str, float], stems: set[str]) -> float:
    """Share of the weighted question stems that `stems` holds, in [0, 1]."""
    total = sum(weights.values())
    if total <= 0:
        return 0.0
    return sum(w for t, w in weights.items() if t in stems) / total


def is_heading(text: str) -> bool:
    """A title line alone: one line, a Markdown heading however it ends ("## Comment
    joindre le support ?"), or short and not ending like a sentence ("## Meals",
    "Venus flytrap", "Congés payés")."""
    text = text.strip()
    if not text or "\n" in text:
        return False
    return text.startswith("#") or (len(text.split()) <= 6 and text[-1] not in ".!?")


def starts_with_heading(text: str) -> bool:
    """Does the text start with a heading line: a short first line, not ending like a
    sentence, with more text after it (what PDF extraction gives for a title)?"""
    first, newline, rest = text.partition("\n")
    first = first.strip().lstrip("#").strip()  # "## Congés payés" is a heading too
    return bool(
        newline and rest.strip() and first and len(first.split()) <= 6 and first[-1] not in ".,;:!?"
    )


def without_heading(text: str, start: int) -> tuple[str, int]:
    """A sentence as quoted to a reader, and where that quote starts: without the
    heading line that opens it. A PDF's heading is one line above its section's first
    sentence, so that sentence reads "## Télétravail\nLe télétravail est possible…";
    the heading stays in the window (it says what the sentence is about), not in the
    quote. Only a line marked as a heading ("#", as the loaders mark them): a PDF
    wraps sentences over short lines too ("L'authentification à deux\nfacteurs est
    obligatoire…")."""
    if not text.lstrip().startswith("#") or not starts_with_heading(text):
        return text, start
    first, _, rest = text.partition("\n")
    body = rest.lstrip()
    return body, start + len(first) + 1 + len(rest) - len(body)


@dataclass
class Window:
    """One sentence of a source, with the context that says what it is about.

    Claims are checked against one sentence at a time: over two, "Le PACS donne droit
    à 5 jours" found every word in "Le mariage donne droit à 5 jours. Le PACS donne
    droit à 4 jours." The context (the document's title, the heading and the sentence
    before) counts for relevance only: "Il dure 5 jours." after "Le congé de mariage…"
    is about marriage, and every sentence of a fiche titled "Timbres fiscaux pour un
    étranger en France" is about foreigners in France."""

    source: int  # index of the source in Evidence.sources
    start: int  # offsets in the source's text
    end: int
    text: str
    context: str  # the window with the sentence before it and the heading


@dataclass
class Source:
    """A passage the answer may cite: an internal chunk or a web snippet."""

    label: str  # "1" or "W1", as cited
    text: str
    heading: str = ""
    title: str = ""  # the document's: what every sentence of it is about
    document: str = ""  # the document's id (none for a web snippet)
    offset: int = 0  # where the text starts in the document


@dataclass
class Evidence:
    """The sentences of an answer's sources, scored for the question.

    `relevance(w)` says how much a window bears on the question, relative to the best
    window of all sources (1.0 = as much as the best). Within the question's language
    it is the weighted share of the question's stems in the window's context;
    across languages, the multilingual cosine of question and window (twice as much
    where the window counts by a period the question asks), relative to the best one."""

    question: str
    lang: str
    sources: list[Source]
    encode: Encode | None = None
    # The question's stems weighed by their rarity in the whole store (`rarity`), for
    # `coverage`.
    rarities: dict[str, float] | None = None
    windows: list[Window] = field(init=False)

    def __post_init__(self) -> None:
        self.windows = []
        continuing: set[int] = set()  # windows whose sentence goes on about the one before
        for i, source in enumerate(self.sources):
            spans = [(s, e) for s, e in sentences(source.text) if e - s >= 3]
            for j, (s, e) in enumerate(spans):
                text = source.text[s:e]
                # A sentence that opens a section ("Matériel\nChaque salarié reçoit…")
                # is about its heading, not about the sentence before it, which ended
                # the previous section.
                opens_section = starts_with_heading(text)
                before = "" if not j or opens_section else source.text[slice(*spans[j - 1])]
                context = " ".join(
                    p for p in dict.fromkeys((source.title, source.heading, before, text)) if p
                )
                self.windows.append(Window(i, s, e, text, context))
                if before and _CONTINUES.match(text):
                    continuing.add(id(self.windows[-1]))
        self._stems = {id(w): content_stems(w.context, self.lang) for w in self.windows}
        self._name_antecedents()
        self.weights = term_weights(
            content_stems(self.question, self.lang), list(self._stems.values())
        )
        self._lexical = {
            id(w): weighted_coverage(self.weights, self._stems[id(w)]) for w in self.windows
        }
        self._carry_through_pronouns(continuing)
        self._share_between_overlapping_chunks()
        self._best_lexical = max(
            (self._lexical[id(w)] for w in self._sentences(self.windows)), default=0.0
        )
        self._question_vector: np.ndarray | None = None
        self._encoded: dict[int, np.ndarray] = {}

    def _name_antecedents(self) -> None:
        """A sentence naming a thing with a demonstrative ("ces horaires") says that
        the sentence before it stated that thing: the noun is that sentence's too. The
        demo's FAQ says "Le support informatique répond au poste 4242 du lundi au
        vendredi, de 8 h 30 à 18 h. En dehors de ces horaires, ouvrez un ticket…": for
        "Quels sont les horaires du support informatique ?" the first sentence bore on
        the question 0.6 of the second, and the right answer citing it was removed as
        off topic."""
        for before, window in zip(self.windows, self.windows[1:], strict=False):
            if before.source != window.source or starts_with_heading(window.text):
                continue
            named = " ".join(_DEMONSTRATIVE.findall(window.text))
            if named:
                self._stems[id(before)] = self._stems[id(before)] | content_stems(named, self.lang)

    def _carry_through_pronouns(self, continuing: set[int]) -> None:
        """A sentence opening with a pronoun for what the sentence before it spoke of
        ("She is portrayed by Rachael Harris…" after "Susan Heffley is Greg's mother.
        Though she is loving…") bears on the question at least as much as that one: it
        says more of the same thing, however few of the question's words it repeats.
        The context (one sentence back) covers the first step of such a run; this
        carries it down the run, in order. clapnq's "who played greg's mom" was
        answered right from the fourth sentence of the run, whose context no longer
        named Greg (0.65 of the best), and the answer was removed as off topic."""
        previous: Window | None = None
        for window in self.windows:
            if (
                previous is not None
                and previous.source == window.source
                and id(window) in continuing
            ):
                self._lexical[id(window)] = max(
                    self._lexical[id(window)], self._lexical[id(previous)]
                )
            previous = window

    def _share_between_overlapping_chunks(self) -> None:
        """One sentence of a document, in two overlapping chunks of it, bears on the
        question as much in both: the windows of one document that start at the same
        place in it take the best relevance among them. A chunk that starts with the
        sentence has no sentence before it, and one that ends inside it holds only its
        first lines: spf's "Ce fonds sert à faire face aux dépenses des travaux :
        obligatoires, ou décidés par l'assemblée générale…" bore on "À quoi sert le
        fonds de travaux… ?" 0.67 of the best in the chunk starting with it, its first
        line, ending the chunk before, 1.0, and the model's right answer was removed.
        By position, not by text: a sentence of another document, or another sentence
        holding these words, is another sentence."""
        groups: dict[tuple[str, int], list[Window]] = {}
        for window in self.windows:
            source = self.sources[window.source]
            if source.document:  # web snippets have none
                groups.setdefault((source.document, source.offset + window.start), []).append(
                    window
                )
        for windows in groups.values():
            best = max(self._lexical[id(w)] for w in windows)
            for window in windows:
                self._lexical[id(window)] = best

    def coverage(self) -> float | None:
        """How much of the question the sentence of the sources that covers it best
        (with its context) holds, each question stem weighed by its rarity in the
        store, in [0, 1]. Unlike `relevance`, absolute, and the stems no source holds
        count against it: a page about marriage and birth leave covers little of a
        question about PACS leave, however well it covers "congé" and "jours".
        None without rarities or without a source in the question's language."""
        if not self.rarities:
            return None
        total = sum(self.rarities.values())
        if total <= 0 or not self._own_language:
            return None
        return max(
            sum(weight for stem, weight in self.rarities.items() if stem in self._held(w)) / total
            for w in self._own_language
        )

    @cached_property
    def _period_stems(self) -> dict[str, str]:
        """The question's period adjectives ("plafond mensuel", "daily allowance"), by
        stem: a sentence counting by that period ("50 euros par mois") holds them."""
        return {
            stem: period
            for start, end, stem in content_words(self.question, self.lang)
            if (period := adjective_period(self.question[start:end]))
        }

    def _held(self, window: Window) -> set[str]:
        """The question stems the window holds: its own, and the question's period
        adjectives where it counts by that period ("plafond mensuel" against "dans la
        limite de 50 euros par mois")."""
        stems = self._stems[id(window)]
        if not self._period_stems:
            return stems
        rates = stated_rates(window.context, or_named=False)
        return stems | {stem for stem, period in self._period_stems.items() if period in rates}

    @cached_property
    def unmatched(self) -> list[str]:
        """The question's words that no source in its language holds, as the question
        phrases them: runs of such content words ("repas" in "le montant de
        l'indemnité de repas", "longueur minimale"). Relevance cannot weigh them (no
        sentence holds them to tell apart), and a claim can bind them to a sentence
        that speaks of something else: "l'indemnité de repas est de 2,50 euros" from
        "une indemnité de 2,50 euros par jour télétravaillé"."""
        if not self._held_in_language:
            return []
        return self._phrases(self._held_in_language)

    @cached_property
    def _held_in_language(self) -> set[str]:
        """The stems the sources in the question's language hold."""
        held: set[str] = set()
        for window in self._own_language:
            held |= self._stems[id(window)]
        return held

    @cached_property
    def phrases(self) -> list[str]:
        """The question's content words as it phrases them (runs of them, the modal
        verbs left out): what a source in another language must speak of to answer it.
        Across languages no word is held or not, so the judge of mentions is asked
        about these: a French page on marriage leave does not speak of "a civil
        partnership", though the multilingual encoder puts "a civil partnership gives 5
        days of leave" close to "Le mariage du salarié donne droit à 5 jours"."""
        # Every word is "missing" here: runs of adjacent words only ("civil
        # partnership", not "days of leave for a civil partnership", which a page on
        # days of leave speaks of); the judge is asked about two. First those no
        # source in the question's language holds, which only the other language's
        # sentence can speak of ("repas" of "le montant de l'indemnité de repas", the
        # French pages speaking of a telework "indemnité"), then the longest.
        phrases = self._phrases(set(), adjacent=True)
        return sorted(
            phrases,
            key=lambda p: (content_stems(p, self.lang) <= self._held_in_language, -len(p.split())),
        )

    def _phrases(self, held: set[str], adjacent: bool = False) -> list[str]:
        """Runs of the question's content words not in `held`, as it phrases them; with
        `adjacent`, a stop word between two words ends a run too."""
        runs: list[list[int]] = []
        previous_missing, previous_end = False, 0
        for start, end, stem in content_words(self.question, self.lang):
            missing = stem not in held and not _modal(self.question, start, end)
            # Punctuation ends a phrase: "le repas, le transport" is two.
            gap = self.question[previous_end:start]
            joined = not _PHRASE_BREAK.search(gap) and not (adjacent and gap.strip(" -'\u2019"))
            if missing and previous_missing and joined:
                runs[-1][1] = end
            elif missing:
                runs.append([start, end])
            previous_missing, previous_end = missing, end
        return list(dict.fromkeys(self.question[s:e] for s, e in runs))

    def is_title_line(self, window: Window) -> bool:
        """Is the window a title line alone, no sentence: a short line not ending like
        one ("Agenda 21"), or its document's title or its section's heading however
        long ("Flag of the Democratic Republic of the Congo", a clapnq page's first
        line)? It names a subject and says nothing of it."""
        source = self.sources[window.source]
        text = fold(window.text.strip().lstrip("#").strip())
        return is_heading(window.text) or text in {fold(source.title), fold(source.heading)}

    def _sentences(self, windows: list[Window]) -> list[Window]:
        """The windows a relevance is relative to: the sentences, not a title line
        alone (all of them where there is nothing else). A title line holds the
        question's words and says nothing: across languages "Agenda 21", the page's
        first line, was the closest to "Qu'était l'Agenda 21 du Sommet de la Terre de
        Rio de Janeiro ?", and the sentence saying what it is ("Agenda 21 is a
        non-binding, voluntarily implemented action plan of the United Nations…")
        bore on the question only 0.67 as much: the model's right answer, citing it,
        was removed as off topic."""
        return [w for w in windows if not self.is_title_line(w)] or windows

    def crosses(self, source: Source) -> bool:
        """Is this source in another language than the question (and the answer)?"""
        return detect_language(source.text, default=self.lang) != self.lang

    def _vectors(self, windows: list[Window]) -> tuple[np.ndarray, dict[int, np.ndarray]] | None:
        """Multilingual vectors of the question and of these windows: one cache for
        every use, each text encoded once, the missing ones in one call. None without
        an encoder."""
        if self.encode is None:
            return None
        missing = [w for w in windows if id(w) not in self._encoded]
        if self._question_vector is None or missing:
            ask = [self.question] if self._question_vector is None else []
            vectors = self.encode(ask + [w.text for w in missing])
            if ask:
                self._question_vector = vectors[0]
            rest = vectors[len(ask) :]
            self._encoded.update({id(w): v for w, v in zip(missing, rest, strict=True)})
        assert self._question_vector is not None
        return self._question_vector, self._encoded

    @cached_property
    def _crossing(self) -> list[Window]:
        return [w for w in self.windows if self.crosses(self.sources[w.source])]

    @cached_property
    def _own_language(self) -> list[Window]:
        return [w for w in self.windows if not self.crosses(self.sources[w.source])]

    @cached_property
    def _asked_rates(self) -> set[str]:
        """The periods the question asks a figure per ("the daily allowance", "par
        semaine")."""
        return stated_rates(self.question, or_named=False)

    def _semantic(self, window: Window, vector: np.ndarray) -> float:
        """The window's multilingual cosine to the question, twice as much where it
        counts by a period the question asks: the cosine ranked "Le télétravail est
        possible jusqu'à 2 jours par semaine" above "Une indemnité de 2,50 euros est
        versée par jour télétravaillé" for "What is the daily allowance for remote
        work?" (0.36 against 0.26), and the right answer, citing the second, was
        removed as off topic. As rag.answer.prompts.focus ranks it for the prompt."""
        assert self._question_vector is not None
        return float(vector @ self._question_vector) * rate_weight(window.text, self._asked_rates)

    @cached_property
    def _best_semantic(self) -> float:
        """The best score (`_semantic`) of a window in another language."""
        encoded = self._vectors(self._crossing)
        if encoded is None or not self._crossing:
            return 0.0
        _, by_window = encoded
        return max(self._semantic(w, by_window[id(w)]) for w in self._sentences(self._crossing))

    def vector(self, window: Window) -> np.ndarray | None:
        """The window's multilingual vector (sources in another language only)."""
        if not self.crosses(self.sources[window.source]):
            return None
        encoded = self._vectors(self._crossing)
        return None if encoded is None else encoded[1][id(window)]

    def similarity(self, window: Window) -> float:
        """The multilingual cosine of the window and the question, whatever their
        languages (0 without an encoder)."""
        encoded = self._vectors(self.windows)
        if encoded is None:
            return 0.0
        question, by_window = encoded
        return float(by_window[id(window)] @ question)

    def relevance(self, window: Window) -> float:
        """How much the window bears on the question, relative to the best window of
        the same kind (lexical within the language, semantic across), in [0, 1]."""
        if self.crosses(self.sources[window.source]):
            vector, best = self.vector(window), self._best_semantic
            if vector is None or best <= 0:
                return 0.0
            return min(max(self._semantic(window, vector), 0.0) / best, 1.0)
        if self._best_lexical <= 0:
            return 0.0
        return min(self._lexical[id(window)] / self._best_lexical, 1.0)

    def best_for_question(self, source: int) -> Window | None:
        """The source's sentence that bears most on the question (what an
        extractive answer quotes); ties go to the earlier sentence. A title line alone
        ("Venus flytrap") holds the question's words and says nothing, nor does a
        question (a FAQ's "Comment joindre le support ?", quoted for "Who do I contact if
        my laptop breaks?" above the answer under it): a statement is preferred."""
        best: Window | None = None
        best_key = (False, False, -1.0)
        for window in self.windows:
            if window.source != source:
                continue
            says = not self.is_title_line(window)
            key = (says, says and not window.text.rstrip().endswith("?"), self.relevance(window))
            if key > best_key:
                best, best_key = window, key
        return best

    def windows_of(self, source: int) -> list[Window]:
        return [w for w in self.windows if w.source == source]
