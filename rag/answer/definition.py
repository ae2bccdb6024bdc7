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
from enum import Enum

from rag.text import content_stems, content_words

# A question asking what something is, with what it asks about: "Qu'est-ce qu'un
# récépissé ?", "Qu'est-ce que la médiation familiale ?", "Que signifie RSA ?",
# "What is a morpheme?", "What does PACS mean?" (not "What is the capital of
# France?", which one word answers).
_DEFINITION = re.compile(
    r"qu['\u2019]est[- ]ce qu(?:['\u2019]une?\b|e (?:le|la|les)\b|e l['\u2019])(?P<fr>[^?]*)"
    r"|\bque (?:signifie|signifient|veut dire|veulent dire)\b(?P<fr2>[^?]*)"
    r"|^\s*what(?:'s|\u2019s| is| are) (?:a|an)\b(?P<en>[^?]*)"
    r"|^\s*what (?:does|do) (?P<en2>.+?) mean\b",
    re.I,
)

# "Qu'est-ce que l'employeur doit payer ?" asks no definition: a verb follows the noun.
# (The verbs such questions use; "Qu'est-ce que la loi prévoit ?". French only: "What
# is a…" holds no verb after it.)
_VERBS = frozenset(
    """doit doivent peut peuvent faut fait font faire a ont est sont va vont reçoit
    reçoivent perçoit prend prennent paie paye payer verse couvre couvrent contient
    dit prévoit prévoient change risque implique entraîne demande donne
    se s""".split()
)

# Articles, possessives and demonstratives: what stands between a preposition and its
# noun ("après la période", "pendant votre période").
_ARTICLES = frozenset(
    """le la les l un une des ce cet cette ces son sa ses leur leurs votre vos notre nos
    mon ma mes the a an this that these those its their your our""".split()
)
_PREPOSITIONS = frozenset(
    """après avant pendant durant lors dès depuis jusqu sauf hors pour par sur sous
    dans en avec sans contre vers selon entre chez de d du au aux à outre
    after before during until since upon following for with without within in on at
    by from to under over through of into throughout""".split()
)
# A head noun followed by "de" still defines the term: "Le dispositif d'emploi franc
# permet…", "The concept of…".
_HEAD_OF = frozenset("de d du des of".split())
# What introduces a term being named: "autrefois appelée période d'immersion",
# "known as".
_NAMING = frozenset(
    """appelé appelée appelés appelées appelle appellent dit dite dits dites nommé nommée
    intitulé intitulée called named termed as""".split()
)
# What follows a term being defined.
_DEFINES = re.compile(
    r"\s*(?:[:(\u2014\u2013]|,?\s*(?:qui|c['\u2019]est|ce sont|which|i\.e\.)\b"
    r"|,\s*(?:un|une|a|an)\b"
    r"|(?:est|sont|désigne|désignent|correspond|correspondent|consiste|consistent|constitue"
    r"|constituent|représente|représentent|permet|permettent|vise|visent|sert|servent"
    r"|s['\u2019]entend|signifie|is|are|means|refers|denotes|allows|consists|was|were)\b)",
    re.I,
)

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
    GOVERNED = "governed"  # after a preposition: "après la période d'essai"
    OTHER = "other"  # otherwise ("le juge peut proposer une médiation familiale")


def asks_definition(question: str) -> bool:
    """Does the question ask what something is?"""
    return _term(question) is not None


def defined_term(question: str, lang: str) -> set[str]:
    """The stems of what the question asks the meaning of; empty when it asks no
    definition, or asks about an acronym ("Que signifie RSA ?", "Qu'est-ce que l'AME
    ?"), which its expansion answers in other words ("Revenu de solidarité active")."""
    term = _term(question)
    if term is None or any(len(w) >= 2 and w.isupper() for w in _WORD.findall(question)):
        return set()
    return content_stems(term, lang)


def _term(question: str) -> str | None:
    match = _DEFINITION.search(question)
    if match is None:
        return None
    french = match.group("fr") if match.group("fr") is not None else match.group("fr2")
    if french is not None:
        return None if _VERBS & {w.lower() for w in _WORD.findall(french)} else french
    return match.group("en") or match.group("en2") or ""


def opens_with_pronoun(sentence: str) -> bool:
    """Does the sentence open with a word standing for something named before?"""
    return bool(_STANDS_FOR.match(sentence))


def role(sentence: str, term: set[str], lang: str) -> Role:
    """How `sentence` names the term whose stems are `term` (its first mention)."""
    span = _span(sentence, term, lang)
    if span is None:
        return Role.ABSENT
    start, end = span
    before = [w.lower() for w in _WORD.findall(sentence[:start])]
    words = [w for w in before if w not in _ARTICLES]
    defines = bool(_DEFINES.match(sentence[end:]))
    if not words:
        return Role.DEFINED  # it opens the sentence
    if words[-1] in _PREPOSITIONS:
        if words[-1] in _HEAD_OF and len(words) == 2 and defines:
            return Role.DEFINED  # "Le dispositif d'emploi franc permet…"
        return Role.GOVERNED
    if words[-1] in _NAMING or defines:
        return Role.DEFINED
    return Role.OTHER


def says_what_it_is(texts: Iterable[str], term: set[str], lang: str) -> bool | None:
    """Does one of these texts say what the term is (names it as `Role.DEFINED`)? None
    when none names it: whether they define it in other words cannot be told."""
    roles = {role(text, term, lang) for text in texts} - {Role.ABSENT}
    return Role.DEFINED in roles if roles else None


def _span(sentence: str, term: set[str], lang: str) -> tuple[int, int] | None:
    """The offsets of the first run of the sentence's content words holding every stem
    of the term, with at most two other content words among them."""
    if not term:
        return None
    words = content_words(sentence, lang)
    for i, (start, _, stem) in enumerate(words):
        if stem not in term:
            continue
        missing = set(term)
        for j in range(i, min(len(words), i + len(term) + 2)):
            missing.discard(words[j][2])
            if not missing:
                return start, words[j][1]
    return None
