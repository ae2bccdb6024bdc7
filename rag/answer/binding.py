"""What a figure is said of, and whether a claim binds a figure to what its source
says of another.

spf's "Qu'est-ce qu'un logement soumis au régime de la loi de 1948 ?" was answered
"…est un logement construit avant le 23 décembre 1986 [2]", served as verified: every
word and figure is in the fiche, which says the dwellings were *built* before
1 September 1948 and that only tenants who *moved in* before 23 December 1986 keep
the regime. Word-level support (0.85) and the judge both passed it. The claim binds
the date to "construit"; its source binds the date to "entrés dans les lieux", and
"construits" to another date. A claim doing that is unsupported by that sentence
(rag.answer.verify).

A figure's word is the nearest content word before it in its clause, past function
words and the prepositions that introduce a figure ("construit avant le 23 décembre
1986" -> "construit"; "entrés dans les lieux avant le 23…" -> "lieux"). A break
(punctuation, "et", "ou", another figure) ends the search: "Mariage : 5 jours" binds 5
to nothing, and "de 2 à 5 jours" binds 5 to nothing; so is a figure's unit ("2 mois
au-delà de 2 ans": "mois" is the first 2's). Words that any figure may follow ("a
droit à", "bénéficie de", "s'élève à", "ayant", "amount") bind nothing: a paraphrase
uses them for any figure.

The rule fires only when all of these hold, which keeps it to swaps: the cited
sentence binds the figure to a word the claim does not use; the sentence does not use
the claim's word anywhere ("born in Dayton, Ohio in 1950" supports "born in 1950"),
nor state the figure bound to nothing; the source binds the claim's word to another
figure, and nowhere to this one. Words are compared by stem and by how they begin
(Snowball stems "loyer" and "loi" alike). An adversarial review (63 claims, 13 of
them swaps) left 3 faithful paraphrases refused, each using a word the passage ties
to another figure ("first aired in 2005" where the passage says it first aired in
2007), and 3 swaps passed (the sentence itself names the claim's word, or binds the
figure to nothing).

Hand-written: no library in the stack parses French offline, and the nearest-word
reading is what separates the cases the data sets hold; tests/test_verify.py has them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from rag.answer.evidence import NUMBER, numbers
from rag.text import content_stems, content_words, fold

# A figure (as rag.answer.evidence.numbers reads them), a word, or what ends a clause.
_TOKEN = re.compile(
    rf"(?P<figure>{NUMBER.pattern})"
    r"|(?P<word>[^\W\d_][\w'\u2019-]*)"
    r"|(?P<break>[,;:.!?()«»\"\[\]\n–—•/]|\s-\s)"
)
_ORDINALS = frozenset("er re ère e ème st nd rd th".split())
_MONTHS = frozenset(
    """janvier février fevrier mars avril mai juin juillet août aout septembre octobre
    novembre décembre decembre january february march april may june july august
    september october november december""".split()
)
# Words a clause is joined by: what follows is said of something else.
_JOINS = frozenset("et ou mais puis and or but then".split())
# What stands between a figure and its word without being it: prepositions, adverbs
# and adjectives that introduce a figure ("avant le", "jusqu'à", "au moins", "âgés
# de", "up to").
_BETWEEN = frozenset(
    """avant après apres depuis pendant durant dès des jusqu jusqu'à jusqu’à entre vers
    environ moins plus maximum minimum maximal maximale maximales maximaux minimal
    minimale minimales minimaux seulement uniquement déjà au-delà en-deçà hauteur
    partir compter près tard tôt raison supérieur supérieure supérieurs supérieures
    inférieur inférieure inférieurs inférieures âgé âgée âgés âgées
    before after since during until till within between about around over under
    least most than up only approximately nearly almost roughly aged age more less
    fewer exceeding just some""".split()
)
# Words any figure may follow: a paraphrase binds them to any figure ("a droit à 5
# jours" for "bénéficie de 5 jours"), so they bind nothing.
_LIGHT = frozenset(
    """droit droits bénéficie bénéficient bénéficier dispose disposent disposer élève
    élèvent élever fixé fixée fixés fixées limité limitée limités limitées égal égale
    égaux correspond correspondent atteint atteignent représente représentent vaut
    valent total totale montant montants durée somme nombre soit porté portée prévu
    prévue prévus prévues accordé accordée accordés accordées versé versée versés
    versées payé payée payés payées reçoit reçoivent obtient obtiennent passe passent
    ayant compte comptant justifie justifiant acquiert acquièrent cumule cumulent
    perçoit perçoivent touche touchent coûte coûtent possible
    entitled amount amounts total totals equal equals equivalent sum number set fixed
    limited capped granted paid receive receives received get gets given lasts last
    duration reaches reached worth pay pays cost costs consists comprises includes
    contains counted""".split()
)
# Words to look back over, at most, from a figure to its word.
_REACH = 4


@dataclass(frozen=True)
class _Figures:
    """What a text says of its figures."""

    bound: frozenset[tuple[str, str, str]]  # (figure, stem of its word, the word)
    bare: frozenset[str]  # figures bound to no word somewhere in the text
    words: frozenset[str]  # its content words, as written


@lru_cache(maxsize=4096)
def _figures(text: str, lang: str) -> _Figures:
    tokens = [(m.lastgroup, m.group()) for m in _TOKEN.finditer(text)]
    bound: set[tuple[str, str, str]] = set()
    bare: set[str] = set()
    for i, (kind, value) in enumerate(tokens):
        if kind != "figure" or (i and tokens[i - 1][1].lower() in _MONTHS):
            continue  # "23 décembre 1986" is one figure, bound by its first number
        word = _word_before(tokens, i)
        figures = numbers(value)
        if word is None:
            bare |= figures
        else:
            stems = content_stems(word, lang)
            bound |= {(figure, stem, word) for figure in figures for stem in stems}
    words = frozenset(text[start:end] for start, end, _ in content_words(text, lang))
    return _Figures(frozenset(bound), frozenset(bare), words)


def bindings(text: str, lang: str) -> frozenset[tuple[str, str]]:
    """(figure, stem of its word) for each figure of the text bound to a word."""
    return frozenset((figure, stem) for figure, stem, _ in _figures(text, lang).bound)


def _word_before(tokens: list[tuple[str | None, str]], i: int) -> str | None:
    """The figure's word; None where it is bound to nothing."""
    for j in range(i - 1, max(-1, i - 1 - _REACH), -1):
        kind, value = tokens[j]
        low = value.lower()
        if kind != "word" or low in _JOINS:
            return None  # a break, a join or another figure: bound to nothing
        if low in _ORDINALS or low in _BETWEEN or not content_stems(low, "fr"):
            continue
        if j and tokens[j - 1][0] == "figure":
            return None  # the unit of another figure ("2 mois au-delà de 2 ans")
        # Elided ("l'indemnité"): the word after the apostrophe is the one.
        low = re.split(r"['\u2019]", low)[-1]
        return None if low in _LIGHT else low
    return None


def _same_word(a: str, b: str) -> bool:
    """Do two words begin alike? ("télétravail", "télétravailler"; Snowball stems
    "loyer" to "loi", which does not.)"""
    a, b = fold(a), fold(b)
    n = min(len(a), len(b), 6)
    return a[:n] == b[:n]


def swaps_binding(claim: str, sentence: str, text: str, lang: str) -> bool:
    """Does the claim bind a figure of the sentence to a word that its source (`text`,
    the sentence's passage) binds to another figure, the sentence binding that figure
    to a word the claim does not use? ("un logement construit avant le 23 décembre
    1986" against "…entrés dans les lieux avant le 23 décembre 1986…", the passage
    saying "construits avant le 1 er septembre 1948".)"""
    if not numbers(claim):
        return False
    said = _figures(sentence, lang)
    if not said.bound:
        return False
    held = _figures(text, lang)
    held_pairs = {(figure, stem) for figure, stem, _ in held.bound}
    used = content_stems(claim, lang)
    for figure, stem, word in _figures(claim, lang).bound:
        theirs = {s for f, s, _ in said.bound if f == figure}
        if not theirs or stem in theirs or theirs & used:
            continue
        if figure in said.bare or any(_same_word(w, word) for w in said.words):
            continue  # the sentence also states it bare, or uses the claim's word
        if (figure, stem) in held_pairs:
            continue
        if any(s == stem and f != figure and _same_word(w, word) for f, s, w in held.bound):
            return True
    return False
