"""Questions asking what something is, and whether a sentence says what it is.

"Qu'est-ce que la période d'essai ?" asked of a handbook whose only sentence naming it
is "Après la période d'essai, un salarié peut travailler à distance jusqu'à 2 jours
par semaine" was answered "La période d'essai est une période pendant laquelle un
salarié peut travailler à distance jusqu'à 2 jours par semaine [1]": every word, figure
and name of the claim is in its source, and the support judge said yes. What the source
does not do is say what the trial period is: it names it after a preposition, as the
time after which something else holds. A claim stating what X is (X its subject) is
not supported by a sentence that names X only that way (rag.answer.verify).

The role is read from the words around the term, not parsed: the word before it
(articles aside) is a preposition ("après", "pendant", "en", "de", "after", "during"),
or the term opens the sentence, is introduced by "appelé", "called", or is followed by
what defines ("est", "désigne", "permet", ", qui", ":", "is", "refers", ", which").
Hand-written: no library in the stack tags French parts of speech offline, and these
few words are what separates the cases the data sets hold (spf's 14 definition
questions: each reference sentence reads as defining, "Le dispositif d'emploi franc
permet…" included).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from functools import lru_cache

from rag.text import content_words

# A question asking what something is, with what it asks about: "Qu'est-ce qu'un
# récépissé ?", "Qu'est-ce que la médiation familiale ?", "Que signifie RSA ?",
# "What is a morpheme?", "What does PACS mean?" (not "What is the capital of
# France?", which one word answers). "Qu'est-ce que la…" (`article`) also opens
# questions that are no definition ("Qu'est-ce que la mutuelle rembourse ?"): only the
# role check below reads them as one, not the rules that remove a whole answer.
_DEFINITION = re.compile(
    r"qu['\u2019]est[- ]ce qu['\u2019]une?\b(?P<indefinite>[^?]*)"
    r"|qu['\u2019]est[- ]ce qu(?:e (?:le|la|les)\b|e l['\u2019])(?P<article>[^?]*)"
    r"|\bque (?:signifie|signifient|veut dire|veulent dire)\b(?P<meaning>[^?]*)"
    r"|^\s*what(?:'s|\u2019s| is| are) (?:a|an)\b(?P<what>[^?]*)"
    r"|^\s*what (?:does|do) (?P<mean>.+?) mean\b",
    re.I,
)

# "Qu'est-ce que l'employeur doit payer ?" asks no definition: a verb follows the noun.
# (The verbs such questions use; "Qu'est-ce que la loi prévoit ?". The list cannot be
# complete: a question it misses is read as a definition by the role check only.)
_VERBS = frozenset(
    """doit doivent peut peuvent faut fait font faire a ont est sont va vont reçoit
    reçoivent perçoit prend prennent paie paye payer verse versent couvre couvrent
    contient dit prévoit prévoient change risque implique entraîne demande donne
    rembourse remboursent valide valident inclut comprend finance accorde fournit
    propose proposent exige exigent se s""".split()
)

# Articles, possessives and demonstratives: what stands between a preposition and its
# noun ("après la période", "pendant votre période").
ARTICLES = frozenset(
    """le la les l un une des ce cet cette ces son sa ses leur leurs votre vos notre nos
    mon ma mes the a an this that these those its their your our""".split()
)
PREPOSITIONS = frozenset(
    """après avant pendant durant lors dès depuis jusqu sauf hors pour par sur sous
    dans en avec sans contre vers selon entre chez de d du au aux à outre
    after before during until since upon following for with without within in on at
    by from to under over through of into throughout""".split()
)
# What stands before a noun, not before a verb: "de demande", "la demande".
_BEFORE_NOUNS = ARTICLES | PREPOSITIONS
# What opens a clause the term is only the condition or the time of: "si la période
# d'essai est terminée", "dont la période…", "une fois la période…", "once the trial
# period is over".
SUBORDINATE = frozenset(
    "si lorsque lorsqu quand dont fois once when whenever if unless whose".split()
)
# A head noun followed by "de" still defines the term ("Le dispositif d'emploi franc
# permet…", "The concept of…"), unless it names a moment of it ("La fin de la période
# d'essai permet…").
HEAD_OF = frozenset("de d du of".split())
_BOUNDS = frozenset(
    "début fin issue terme expiration suite beginning end expiry completion".split()
)
# What introduces a term being named: "autrefois appelée période d'immersion", "On
# parle de rupture conventionnelle lorsque…".
_NAMING = frozenset(
    """appelé appelée appelés appelées appelle appellent dit dite dits dites nommé nommée
    intitulé intitulée called named termed""".split()
)
_NAMED_AFTER = frozenset({("parle", "de"), ("parle", "d"), ("parler", "de"), ("parler", "d")})
# What follows a term being defined, its closing quote or emphasis aside.
_DEFINES = re.compile(
    r"[\s»\"\u201d'\u2019*_]*(?:[:(\u2014\u2013]"
    r"|,?\s*(?:qui|c['\u2019]est|ce sont|which|on entend|on désigne|on appelle|we mean)\b"
    r"|,?\s*(?:c['\u2019]est-à-dire|i\.e\.)|,\s*(?:un|une|a|an)\b"
    r"|(?:est|sont|désigne|désignent|correspond|correspondent|consiste|consistent|constitue"
    r"|constituent|représente|représentent|permet|permettent|vise|visent|sert|servent"
    r"|s['\u2019]entend|signifie|is|are|means|refers|denotes|allows|consists|was|were)\b)",
    re.I,
)
# Right after a term named after a preposition, a relative clause still says what it
# is or does: "soumis à une période d'essai, qui permet…", "Par période d'essai, on
# entend…", "subject to a trial period, which…".
_STILL_DEFINES = re.compile(
    r"[\s»\"\u201d'\u2019*_]*,?\s*(?:qui|which|on entend|on désigne|on appelle|we mean)\b", re.I
)
# A claim saying what the term is by the preposition its source names it after: "une
# période pendant laquelle chaque partie peut rompre" restates "Pendant la période
# d'essai, chaque partie peut rompre".
_RELATIVE = r"\s+(?:lequel|laquelle|lesquels|lesquelles|which)\b"

# A sentence opening with a pronoun or a demonstrative standing for what the question
# names ("C'est une mesure…", "Elle permet…", "Cette aide…", "It is…", "This plan…"),
# its list dash or emphasis aside.
_STANDS_FOR = re.compile(
    r"[\s*_#>`•–—-]*(?:c['\u2019]est|ce sont|il|elle|ils|elles|cela|ceci|ça|ce|cet|cette"
    r"|ces|it|its|it['\u2019]s|this|these|they|that)\b",
    re.I,
)

_WORD = re.compile(r"\w+")


class Role(Enum):
    """How a sentence names the term a question asks the meaning of."""

    ABSENT = "absent"  # not every word of the term, close together
    DEFINED = "defined"  # as what the sentence says is, does or is called
    GOVERNED = "governed"  # after a preposition, or in a clause about something else
    OTHER = "other"  # otherwise ("le juge peut proposer une médiation familiale")


@dataclass(frozen=True)
class Term:
    """What a question asks the meaning of, as stems."""

    stems: frozenset[str]
    head: str  # its first word's: where a sentence's mention of it is read
    text: str = field(default="", compare=False)  # as the question words it


def asks_definition(question: str) -> bool:
    """Does the question surely ask what something is ("Qu'est-ce qu'un…", "Que
    signifie…", "What is a…", "What does… mean")? The rules that remove a whole answer
    for defining nothing apply to these only."""
    match = _DEFINITION.search(question)
    return match is not None and match.group("article") is None and _term(match) is not None


def defined_term(question: str, lang: str) -> Term | None:
    """What the question asks the meaning of (the words after "qu'est-ce que la", a
    topic before it aside); None when it asks no definition, or when it has an
    acronym ("Que signifie RSA ?", "Qu'est-ce que l'AME ?"), whose expansion answers
    in other words ("Revenu de solidarité active"), or when the question is in
    capitals."""
    match = _DEFINITION.search(question)
    term = _term(match) if match else None
    if term is None or any(len(w) >= 2 and w.isupper() for w in _WORD.findall(question)):
        return None
    words = content_words(term, lang)
    if not words:
        return None
    return Term(frozenset(stem for _, _, stem in words), words[0][2])


def _term(match: re.Match[str]) -> str | None:
    french = next(
        (g for g in ("indefinite", "article", "meaning") if match.group(g) is not None), ""
    )
    if french:
        term = match.group(french)
        return None if _has_verb(term) else term
    return match.group("what") or match.group("mean") or ""


def _has_verb(term: str) -> bool:
    """Does a word of `_VERBS` stand as a verb in the words after "qu'est-ce que"? Not
    after an article or a preposition, where it is a noun: "un récépissé de demande de
    titre de séjour", "le fait générateur"."""
    words = [w.lower() for w in _WORD.findall(term)]
    return any(
        word in _VERBS and not (i and words[i - 1] in _BEFORE_NOUNS) for i, word in enumerate(words)
    )


def opens_with_pronoun(sentence: str) -> bool:
    """Does the sentence open with a word standing for something named before?"""
    return bool(_STANDS_FOR.match(sentence))


def role(sentence: str, term: Term, lang: str) -> Role:
    """How `sentence` names the term (where its head is first named with the rest)."""
    return _reading(sentence, term, lang)[0]


def defines(claim: str, term: Term, lang: str) -> bool:
    """Does the claim say what the term is: naming it as its subject ("La période
    d'essai est…"), or opening with a pronoun for it ("C'est une période…")?"""
    said = role(claim, term, lang)
    return said is Role.DEFINED or (said is Role.ABSENT and opens_with_pronoun(claim))


def swaps_role(claim: str, source: str, term: Term, lang: str) -> bool:
    """Does the claim say what the term is from a source sentence that names it only
    after a preposition, or in a clause about something else? Not when the claim says
    so by that same preposition ("une période pendant laquelle…" from "Pendant la
    période d'essai, …")."""
    if not defines(claim, term, lang):
        return False
    said, word = _reading(source, term, lang)
    if said is not Role.GOVERNED:
        return False
    return not re.search(rf"\b{re.escape(word)}{_RELATIVE}", claim, re.I)


def only_in_passing(texts: Iterable[str], term: Term, lang: str) -> bool:
    """Do these texts name the term, and every time only after a preposition or in a
    clause about something else? (Naming it otherwise may define it in words the
    reading above does not know: "…une rupture conventionnelle, mode de rupture
    amiable du CDI".)"""
    roles = {role(text, term, lang) for text in texts} - {Role.ABSENT}
    return roles == {Role.GOVERNED}


@lru_cache(maxsize=4096)
def _reading(sentence: str, term: Term, lang: str) -> tuple[Role, str]:
    """The role, and the word the term is named after (articles aside). Cached:
    verification reads each claim against every window, and each window for every
    claim."""
    where = span(sentence, term, lang)
    if where is None:
        return Role.ABSENT, ""
    return role_at(sentence, *where)


def role_at(sentence: str, start: int, end: int) -> tuple[Role, str]:
    """How the sentence names what it holds between these offsets, and the word it is
    named after (articles aside)."""
    words = [w for w in (w.lower() for w in _WORD.findall(sentence[:start])) if w not in ARTICLES]
    after = sentence[end:]
    last = words[-1] if words else ""
    if not words:
        return Role.DEFINED, last  # it opens the sentence
    if last in SUBORDINATE:
        return Role.GOVERNED, last
    if tuple(words[-2:]) in _NAMED_AFTER or last in _NAMING:
        return Role.DEFINED, last
    if last in PREPOSITIONS:
        if _STILL_DEFINES.match(after):
            return Role.DEFINED, last
        if (
            last in HEAD_OF
            and len(words) == 2
            and words[0] not in _BOUNDS
            and _DEFINES.match(after)
        ):
            return Role.DEFINED, last  # "Le dispositif d'emploi franc permet…"
        return Role.GOVERNED, last
    return (Role.DEFINED if _DEFINES.match(after) else Role.OTHER), last


def span(sentence: str, term: Term, lang: str) -> tuple[int, int] | None:
    """The offsets of the term's first mention: its head's first occurrence with every
    other stem of the term among the content words around it (as many as the term
    has, and one more, on either side: "les cadres, la période d'essai"); from the
    head to the last of them."""
    words = content_words(sentence, lang)
    reach = len(term.stems) + 1
    for i, (start, end, stem) in enumerate(words):
        if stem != term.head:
            continue
        around = words[max(0, i - reach) : i + reach + 1]
        if term.stems <= {s for _, _, s in around}:
            last = max((e for _, e, s in around if s in term.stems), default=end)
            return start, max(end, last)
    return None
