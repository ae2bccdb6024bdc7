"""What a figure is counted per: the periods ("par an", "per month", "25 euros a day",
"10 €/mois", "un plafond annuel") a claim states and a source sentence says; and the
periods a figure counts ("2 jours", "a 2-week trial").

Verification (rag.answer.verify) treats a rate like a number, as a hard anchor: "50
cartouches par an" is not what "50 cartouches pendant la durée de l'autorisation"
says, nor is "dans la limite de 50 euros par mois" a yearly ceiling, and "25 jours de
congés par an" counts days, it gives no daily figure. A claim states a rate only in
forms that cannot be read otherwise; a source sentence says one in more forms, and,
where it counts by no period at all, by naming one ("2 days in any given week").

Hand-written: no library reads French and English rate expressions (dateparser and
the like parse dates and durations, not "per" relations), and the words are few.
"""

from __future__ import annotations

import re
import unicodedata

# Each period: its nouns in French and English, and the adjectives and other words
# that make a rate by themselves ("annuel", "mensualité", "hourly", "per annum").
_PERIODS = {
    "year": (r"ans?|ann[ée]es?", r"years?", r"annuel\w*|annuit[ée]s?|annual\w*|yearly"),
    "month": (r"mois", r"months?", r"mensuel\w*|mensualit[ée]s?|monthly"),
    "week": (r"semaines?", r"weeks?", r"hebdomadaire\w*|weekly"),
    "day": (r"jours?|journ[ée]es?", r"days?", r"quotidien\w*|journali[eè]r\w*|daily"),
    "hour": (r"heures?", r"hours?", r"horaires?|hourly"),
}
# Adjectives make a claim's rate only beside what is counted ("un plafond annuel", "the
# daily allowance"), not in "Annual leave is 25 days" or "la vie quotidienne".
_COUNTED = (
    r"plafonds?|montants?|indemnit[ée]s?|allocations?|primes?|salaires?|budgets?"
    r"|cotisations?|loyers?|co[uû]ts?|frais|limites?|taux|revenus?|tarifs?|forfaits?"
    r"|allowances?|fees?|costs?|salar(?:y|ies)|rents?|caps?|ceilings?|limits?|rates?|pay"
    r"|income|wages?|budgets?|prices?"
)
# Abbreviations after a slash ("12 €/h", "8 €/j"), and forms that are rates alone.
_SLASHED = {"day": r"|j", "hour": r"|h"}
_ALONE = {"year": r"|\bp\.\s?a\.|\bper annum\b"}


def _claim_pattern(name: str, fr: str, en: str, adjectives: str) -> re.Pattern[str]:
    return re.compile(
        rf"\b(?:par|chaque|tous les|toutes les|per|each|every)\s+(?:{fr}|{en})\b"
        # "25 euros a day", "8 hours a day": the figure, at most one word, then "a".
        rf"|\d[\d.,]*\s*(?:[^\s\d.;]+\s+)?an?\s+(?:{en})\b"
        rf"|/\s*(?:{fr}|{en}{_SLASHED.get(name, '')})\b"
        rf"|\b(?:{_COUNTED})\s+(?:\w+\s+)?(?:{adjectives})\b"
        rf"|\b(?:{adjectives})\s+(?:{_COUNTED})\b{_ALONE.get(name, '')}",
        re.I,
    )


def _source_pattern(name: str, fr: str, en: str, adjectives: str) -> re.Pattern[str]:
    # More forms than a claim's: "la journée", "l'heure", "an hour", an adjective
    # anywhere ("versé mensuellement", "taux horaire").
    return re.compile(
        rf"\b(?:par|chaque|tous les|toutes les|per|each|every|a|an|la|le|l')\s*(?:{fr}|{en})\b"
        rf"|/\s*(?:{fr}|{en}{_SLASHED.get(name, '')})\b|\b(?:{adjectives})\b"
        rf"{_ALONE.get(name, '')}",
        re.I,
    )


# Any mention: a bare French "an" only after a number or a determiner (in English it
# is an article).
def _mention_pattern(name: str, fr: str, en: str, adjectives: str) -> re.Pattern[str]:
    if name == "year":
        return re.compile(
            rf"(?:\d\s*|/\s*|\b(?:par|un|chaque|l'|d'|cet)\s*)an\b|\b(?:ans|ann[ée]es?|{en}"
            rf"|{adjectives})\b{_ALONE['year']}",
            re.I,
        )
    return re.compile(rf"\b(?:{fr}|{en}|{adjectives})\b", re.I)


# A figure and the period it counts: "2 jours", "30 days", "a 2-week trial", "24 h",
# "5 jours ouvrés", "3 working days", "les 3 premiers jours", "de 2 à 5 jours" (the
# period counts both figures of a range). Thousands joined, decimal comma as a point
# (evidence.numbers).
_FIGURE = r"\d{1,3}(?:[ \u00a0\u202f]\d{3})+|\d+(?:[.,]\d+)?"
_BETWEEN = (
    r"ouvr[ée]s|ouvrables|calendaires|francs|pleins|cons[ée]cutifs|premi[eè]re?s"
    r"|derni[eè]re?s|working|business|calendar|consecutive|full|clear|first|last"
)
_ABBREVIATED = {"day": r"|j", "hour": r"|h"}


def _count_pattern(name: str, fr: str, en: str) -> re.Pattern[str]:
    return re.compile(
        rf"(?<![\d.,])({_FIGURE})(?:\s*(?:à|a|au|to|ou|or|et|and|-|–)\s*({_FIGURE}))?"
        rf"\s*-?\s*(?:(?:{_BETWEEN})\s+)?(?:{fr}|{en}{_ABBREVIATED.get(name, '')})\b",
        re.I,
    )


_COUNTS = {name: _count_pattern(name, fr, en) for name, (fr, en, _) in _PERIODS.items()}
_CLAIMED = {name: _claim_pattern(name, *words) for name, words in _PERIODS.items()}
_STATED = {name: _source_pattern(name, *words) for name, words in _PERIODS.items()}
_NAMED = {name: _mention_pattern(name, *words) for name, words in _PERIODS.items()}
_DIGIT = re.compile(r"\d")


def _normal(text: str) -> str:
    """Composed accents and straight apostrophes, as the patterns are written."""
    return unicodedata.normalize("NFC", text).replace("\u2019", "'")


def claimed_rates(text: str) -> set[str]:
    """The periods a claim counts a figure per: "year", "month", "week", "day", "hour".
    Only where it states a figure."""
    text = _normal(text)
    if not _DIGIT.search(text):
        return set()
    return {name for name, pattern in _CLAIMED.items() if pattern.search(text)}


def stated_rates(text: str, *, or_named: bool = True) -> set[str]:
    """The periods a source sentence counts by ("par mois", "la journée", "per annum",
    "mensualités", "taux horaire"); where it counts by none, the periods it names
    (unless `or_named` is false: "un préavis de 2 mois" counts by no period)."""
    text = _normal(text)
    stated = {name for name, pattern in _STATED.items() if pattern.search(text)}
    return stated or (named_periods(text) if or_named else set())


def rate_weight(text: str, asked: set[str]) -> float:
    """How much a sentence counts for a question asking a figure per these periods
    (`stated_rates(question, or_named=False)`): twice where it counts by one of them
    ("2,50 euros par jour" for "the daily allowance"), once otherwise. The prompt's
    cut of a source (rag.answer.prompts.focus) and relevance across languages
    (rag.answer.evidence) weigh a sentence alike."""
    return 2.0 if asked and asked & stated_rates(text, or_named=False) else 1.0


def named_periods(text: str) -> set[str]:
    """The periods a text names at all (a heading, a title: "Prime annuelle")."""
    text = _normal(text)
    return {name for name, pattern in _NAMED.items() if pattern.search(text)}


_ADJECTIVES = {name: re.compile(adjectives, re.I) for name, (_, _, adjectives) in _PERIODS.items()}


def adjective_period(word: str) -> str | None:
    """The period a word makes a rate with by itself ("mensuel", "annuelle", "daily"),
    or None."""
    word = _normal(word)
    return next((name for name, p in _ADJECTIVES.items() if p.fullmatch(word)), None)


def counted_periods(text: str) -> set[tuple[str, str]]:
    """Each figure a text counts periods with, and the period: "2 jours par semaine"
    -> ("2", "day"); "a 2-week trial period" -> ("2", "week"). In both languages, so a
    claim in English is held to a French source: "after a 2-week trial period" is not
    what "2 jours par semaine, après la période d'essai" says, though the figure is."""
    text = _normal(text)
    return {
        (re.sub(r"[ \u00a0\u202f]", "", figure).replace(",", "."), name)
        for name, pattern in _COUNTS.items()
        for figures in pattern.findall(text)
        for figure in figures
        if figure
    }
