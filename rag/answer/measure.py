"""Questions asking how long something lasts or how much it is, and whether a sentence
says it.

"Combien de temps dure la période d'essai avant le télétravail ?" asked of the demo
handbook, whose only sentence naming the trial period is "Le télétravail est possible
jusqu'à 2 jours par semaine, après la période d'essai, avec l'accord du manager", was
answered "La période d'essai avant le télétravail est de 2 jours par semaine [1]" (and
in English "The trial period before telework is 2 days per week, after the first
week"): every word and figure of the claim is in its source, the support judge said
yes, and the figure is the telework's. A sentence naming X only as the time, the
condition or the exception of something else ("après X", "à la fin de X", "si X…",
"sauf pour X"), with no measure of X beside it, does not say how long X lasts nor how
much it is; a claim saying so (X its subject) is unsupported by it
(rag.answer.verify), as a definition is by such a sentence (rag.answer.definition,
whose reading of the words around a term this uses). Checked on a review's 100
sentences of both kinds, about 30 of them from spf's fiches (no faithful one refused;
30 of 34 swaps caught, the rest naming X as a verb's object), and on every sentence of
spf giving a figure against 24 measure questions (73 of 108,480 pairs read as in
passing; read one by one, all are but two borderline ones, a bare "congé" and a
worked example).

Across languages the question's term ("the trial period") is found in the source
sentence by the multilingual encoder: the run of words of the sentence closest to it
("période d'essai", cosine 0.71 with Universal Sentence Encoder), when close enough;
its role is then read as within one language.

Hand-written, as rag.answer.definition is: no library in the stack parses French
offline, and the few words around a term are what tells a measure of it from a
mention in passing.
"""

from __future__ import annotations

import re

import numpy as np

from rag.answer.definition import (
    ARTICLES,
    HEAD_OF,
    PREPOSITIONS,
    SUBORDINATE,
    Role,
    Term,
    defines,
    role_at,
    span,
)
from rag.answer.evidence import Encode
from rag.answer.quantity import gives_quantity
from rag.text import content_words

# A question asking how long something lasts, or how much it is or costs, with what it
# measures: "Combien de temps dure la période d'essai ?", "Combien coûte un passeport
# ?", "Quel est le montant de l'indemnité de repas ?", "Quelle est la durée maximale
# du préavis ?", "How long is the trial period?", "How long does a passport take?",
# "How much does a passport cost?", "What's the maximum amount of the allowance?", "How
# much is the fee for a passport?". (Not "how much does the employer pay for…": what is
# measured is not its subject.)
_MEASURED = re.compile(
    r"\bcombien de (?:temps|jours|semaines|mois|heures|minutes|ann[ée]es) (?:dure|durent)\s+"
    r"(?P<lasts>[^?]+)"
    r"|\bcombien (?:co[uû]te|co[uû]tent|vaut|valent)\s+(?P<costs>[^?]+)"
    r"|\bquel(?:le)?s? (?:est|sont) (?:la|le|les|l['\u2019])\s*"
    r"(?:dur[ée]e|montant|prix|co[uû]t|d[ée]lai|plafond|taux|longueur|valeur)s?"
    r"(?:\s+\w+)?(?:\s+de\s+validit[ée])?\s+(?:de|du|des|d['\u2019])\s*(?P<of>[^?]+)"
    r"|\bhow much (?:is|are) the (?:fee|cost|price|charge)s?\s+(?:of|for)\s+(?P<fee>[^?]+)"
    r"|\bhow (?:long|much) (?:is|are|was|were)\s+(?P<is>[^?]+)"
    r"|\bhow long (?:does|do|did|will|would)\s+(?P<lasting>.+?)\s+(?:last|take)\b"
    r"|\bhow much (?:does|do|did|will|would)\s+(?P<costing>.+?)\s+cost\b"
    r"|\bwhat(?:['\u2019]s| is| are| was| were) the (?:\w+\s+)?(?:duration|length|amount|cost"
    r"|price|cap|rate|limit|value|fee)s?\s+(?:of|for)\s+(?P<measure_of>[^?]+)",
    re.I,
)
# The words of the term as a question says it ("période d'essai": "d'" stays with
# "essai"; "on-call" is one word).
_TERM_WORD = re.compile(r"\w+(?:['\u2019-]\w+)*")
# What ends the term: a preposition other than "de" ("la période d'essai avant le
# télétravail"), a verb or a question word.
_ENDS_TERM = (PREPOSITIONS - HEAD_OF - {"d"}) | frozenset(
    """est sont ont doit peut faut lorsque quand si is are was were has have must can
    when if while that qui que""".split()
)
# Who asks rather than what is measured: "How long do I have to…", "How much is it…".
_PERSONS = frozenset(
    "i you we they he she it me je tu il elle on nous vous ils elles ce cela ça".split()
)
# Nouns naming a measure of what follows them ("la durée maximale de la période
# d'essai", "d'une durée de 16 semaines").
_MEASURES = frozenset(
    """durée durées montant montants prix coût coûts délai délais plafond plafonds taux
    longueur valeur tarif total totale duration length amount cost price cap rate limit
    value fee fees""".split()
)
# The words naming a term only as the time or the condition of what the sentence
# measures: prepositions of time and of exception ("après la période d'essai", "sauf
# pendant les congés", "3 days, plus paternity leave"), and what opens a subordinate
# clause ("si", "lorsque", "once").
_ASIDE = SUBORDINATE | frozenset(
    """après avant pendant durant lors dès depuis jusqu sauf hors hormis excepté outre
    after before during until till since upon following throughout except outside
    besides excluding plus""".split()
)
# Nouns making "de" a word of time, condition or exception after a preposition: "à la
# fin du préavis", "à l'issue de", "au cours de", "en cas de", "en plus du", "en
# dehors de", "au lieu de", "at the end of", "in addition to"; and on their own, "apart
# from", "instead of".
_TIME_NOUNS = frozenset(
    """fin issue terme cours cas expiration suite début plus dehors lieu end course case
    expiry completion addition""".split()
)
_ON_THEIR_OWN = frozenset("apart instead".split())
_OF = HEAD_OF | {"to", "from"}
# What ties a figure right after a noun to it: "période d'essai de 2 mois", "…est de",
# "…dure", "…coûte"; and the bounds ("ne peut dépasser", "cannot exceed").
_OWN = frozenset(
    """de d du des of est sont dure durent coûte coûtent vaut s élève is are lasts last
    lasting costs cost ne n cannot""".split()
)
_BOUNDED = ("dépass", "excéd", "inférieur", "supérieur", "atteign", "exceed", "below", "above")
# What opens a clause saying more of the noun before it: "…d'essai, qui dure 2 mois".
_RELATIVE = frozenset("qui dont lequel laquelle which that whose".split())
# An apposition giving its measure: "…d'essai, fixée à 2 mois", "…, soit 16 semaines".
_APPOSITION = frozenset(
    """fixé fixée fixés fixées limité limitée limités limitées plafonné plafonnée
    plafonnés plafonnées porté portée ramené ramenée soit lasting capped limited set
    fixed""".split()
)
# A pronoun standing for it, and a verb of measure: "elle dure 4 mois", "il ne peut
# dépasser", "it cannot exceed" (not "il peut télétravailler", where "il" is the
# employee).
_PRONOUN_MEASURES = re.compile(
    r"\s*(?:il|elle|ils|elles|it|they)\s+"
    r"(?:ne\s+|n['\u2019]|cannot\s+|can\s*not\s+|may\s+not\s+|can\s+|may\s+"
    r"|peut\s+(?:pas\s+)?|peuvent\s+(?:pas\s+)?)?"
    r"(?:dure|durent|durer|co[uû]te|co[uû]tent|vaut|s['\u2019][ée]l[eè]ve"
    r"|est\s+(?:de|d['\u2019]|fix|limit|plafonn|port|ramen)|exc[eé]d|d[ée]pass|lasts?"
    r"|costs?|runs?|is\s+(?:capped|limited|set|fixed)|exceed)",
    re.I,
)
# A measure in brackets or dashes right after the noun: "le préavis (1 mois pour les
# employés)", "le congé – 16 semaines au total –".
_BRACKETED = re.compile(r"\s*[(\u2013\u2014]([^)\u2013\u2014]*)")
# Where a clause ends: punctuation, a comma or a point only before a space ("2,50 €"
# is one figure).
_CLAUSE = re.compile(r"[,;:.!?](?=\s|$)|[()\[\]—–]")
_ELIDED = re.compile(r"^[ld]['\u2019]", re.I)
_RELATIVE_ELIDED = re.compile(r"^(?:qu|lorsqu|puisqu)['\u2019]", re.I)
_WORD = re.compile(r"\w+")
_JOINED = re.compile(r"(?:\w+-)+$")
_FILLERS = ARTICLES | PREPOSITIONS


def measured_term(question: str, lang: str) -> Term | None:
    """What a question asks the length, amount or cost of ("Combien de temps dure la
    période d'essai avant le télétravail ?" -> "période d'essai"; "How much does a
    passport cost?" -> "passport"): the words after the measure, up to the first
    preposition other than "de" ("avant", "before"; "à" and "sans" in a name stay:
    "garde à vue"), a verb or "qu'"; its article aside. None for other questions, and
    for those asking of a person ("How long do I have…")."""
    match = _MEASURED.search(question)
    if match is None:
        return None
    said = next(g for g in match.groups() if g is not None)
    kept: list[str] = []
    named = [m.group() for m in _TERM_WORD.finditer(said)]
    for word, following in zip(named, [*named[1:], ""], strict=True):
        if _RELATIVE_ELIDED.match(word):
            break  # "…d'occupation qu'un squatteur doit payer"
        if word.lower() in _ENDS_TERM and not _in_locution(word, following):
            break  # "…avant le télétravail"
        kept.append(word)
    first = kept[0].lower() if kept else ""
    while kept and kept[0].lower() in ARTICLES:
        kept = kept[1:]
    if kept:
        kept[0] = _ELIDED.sub("", kept[0])  # "l'indemnité"
    text = " ".join(kept)  # "trial period", as the multilingual encoder is given it
    words = content_words(text, lang)
    if not words or first in _PERSONS:
        return None
    return Term(frozenset(stem for _, _, stem in words), words[0][2], text)


def _in_locution(word: str, following: str) -> bool:
    """Before a bare noun, "à" or "sans" is part of a name ("garde à vue", "mise à
    pied", "congé sans solde", "contrat à durée déterminée"); before an article it
    starts a complement ("…à la conversion")."""
    return (
        word.lower() in ("à", "sans")
        and bool(following)
        and following.lower() not in ARTICLES
        and not _ELIDED.match(following)
    )


def states_measure(claim: str, term: Term, lang: str) -> bool:
    """Does the claim say how long or how much the term is: naming it as its subject
    ("La période d'essai est de 2 mois"), opening with a pronoun for it ("Elle dure 2
    mois"), or with its measure right after it ("Les cadres ont une période d'essai de
    2 jours")?"""
    if defines(claim, term, lang):
        return True
    where = span(claim, term, lang)
    return where is not None and _measures_it(claim[where[1] :])


def in_passing(sentence: str, term: Term, lang: str) -> bool:
    """Does the sentence name the term only in passing, saying nothing of its length or
    amount (rag.answer.verify: a claim stating the term's measure is not supported by
    it)? See `passing_at`. Not when it names the term again with its measure ("Lorsque
    le congé parental est pris à temps plein, le congé parental dure 1 an")."""
    where = span(sentence, term, lang)
    if where is None:
        return False
    start, end = where
    # The term's first content word may end a hyphenated word: "on-call" is read from
    # "on", not after it.
    joined = _JOINED.search(sentence[:start])
    if not passing_at(sentence, joined.start() if joined else start, end):
        return False
    again = span(sentence[end:], term, lang)
    if again is None:
        return True
    later, stop = again[0] + end, again[1] + end
    said, _ = role_at(sentence, later, stop)
    return said is Role.GOVERNED or not _measures_it(sentence[stop:])


def passing_at(sentence: str, start: int, end: int) -> bool:
    """Does the sentence name what it holds between these offsets only as the time or
    the condition of something else ("Le télétravail est possible jusqu'à 2 jours par
    semaine, après la période d'essai, …", "Si la période d'essai est renouvelée, le
    préavis…", "À la fin du préavis, …"), with no measure of it beside it?

    Only after a word of time, condition or exception (`_aside`): after "de", "pour",
    "au titre de", "for", a figure of the clause is its measure ("86 € pour un
    passeport", "16 semaines de congé maternité", "Pour un passeport, le timbre coûte
    86 €"). And not with its measure after it: in its clause ("une période d'essai de
    2 mois", "…d'essai ne peut dépasser 4 mois"), in brackets or dashes ("le préavis
    (1 mois pour les employés)"), or in the first following clause that gives a
    figure, when that clause is about it: in apposition ("…maternité, d'une durée de 16
    semaines", "…d'essai, fixée à 2 mois"), relative ("…d'essai, qui dure 2 mois"),
    through a pronoun and a verb of measure ("…renouvelée, elle dure 4 mois") or a
    measure noun of its own ("…renouvelée, la durée totale ne peut dépasser 8 mois";
    not "…, le montant de l'indemnité est de 95 €")."""
    said, word = role_at(sentence, start, end)
    if said is Role.DEFINED or not _aside(sentence[:start], word):
        return False
    after = sentence[end:]
    bracket = _BRACKETED.match(after)
    if bracket and gives_quantity(bracket.group(1)):
        return False
    clause, *rest = _CLAUSE.split(after, maxsplit=1)
    if _measures_it(clause):
        return False
    for _ in range(3):  # "…renouvelée, renouvellement compris, sa durée…"
        if not rest:
            return True
        following = rest[0]
        head, *rest = _CLAUSE.split(following, maxsplit=1)
        if gives_quantity(head):
            return not _says_of_it(following)
    return True


def _aside(before: str, word: str) -> bool:
    """Is the word the term is named after (`role_at`) one of time, condition or
    exception: one of `_ASIDE` ("après", "lorsque"), a preposition after one ("sauf
    pour", "except for"), or "de" after a noun making one ("à la fin du", "à l'issue
    de", "au cours de", "en cas de", "en plus du", "at the end of", "in addition to";
    not "La fin du préavis intervient…") or after a measure noun following one
    ("pendant toute la durée du")?"""
    if word in _ASIDE:
        return True
    words = [w for w in (w.lower() for w in _WORD.findall(before)) if w not in ARTICLES]
    if len(words) < 2:
        return False
    noun, ahead = words[-2], words[-3] if len(words) > 2 else ""
    if word in PREPOSITIONS and noun in _ASIDE:
        return True
    if word not in _OF:
        return False
    if noun in _TIME_NOUNS:
        return ahead in PREPOSITIONS or ahead in ("suivant", "following")
    if noun in _ON_THEIR_OWN:
        return True
    return word in HEAD_OF and noun in _MEASURES and bool(_ASIDE & set(words[-6:-2]))


def _measures_it(clause: str) -> bool:
    """Does the clause right after a noun give its measure: a figure in its first words,
    tied to it by "de", a verb of being, lasting or costing, or a bound ("une période
    d'essai de 2 mois", "…d'essai ne peut dépasser 4 mois"), or by "de" after an
    adjective or two ("…congé non rémunéré de 3 mois"); not "…d'essai jusqu'à 2 jours
    par semaine", nor "…d'essai, le salarié est payé 2 000 €"?"""
    words = clause.split()
    first = [w.lower() for w in _WORD.findall(clause)[:2]]
    if (_OWN & set(first) or any(w.startswith(_BOUNDED) for w in first)) and gives_quantity(
        " ".join(words[:6])
    ):
        return True
    # Past its adjectives: "votre congé non rémunéré de 3 mois".
    return any(
        w.lower() in HEAD_OF and gives_quantity(" ".join(words[i : i + 4]))
        for i, w in enumerate(words[1:3], start=1)
    )


def _says_of_it(clause: str) -> bool:
    """Does a clause following the noun's speak of it: opening with a pronoun and a verb
    of measure ("elle dure 4 mois", "it cannot exceed"), a relative pronoun ("qui
    dure"), an apposition ("d'une durée de", "fixée à", "soit 16 semaines") or a measure
    noun not of something else ("la durée totale", not "le montant de l'indemnité")?"""
    if _PRONOUN_MEASURES.match(clause):
        return True
    opening = [w.lower() for w in _WORD.findall(clause)[:6]]
    if _RELATIVE & set(opening[:3]) or _APPOSITION & set(opening[:2]):
        return True
    for i, w in enumerate(opening[:3]):
        if w in _MEASURES:
            following = opening[i + 1] if i + 1 < len(opening) else ""
            # "d'une durée de 16 semaines" is its; "le montant de l'indemnité" is not.
            return following not in HEAD_OF or gives_quantity(" ".join(opening[i + 2 : i + 4]))
    return False


# Across languages: the least cosine between the question's term and a run of words of
# the source sentence for that run to be read as naming it, and the longest run tried.
# Measured with Universal Sentence Encoder over the demo documents and a few sentences
# of spf's kind: terms and their translations in sentences score 0.58-0.86 ("trial
# period" and "période d'essai" 0.71, "maternity leave" and "congé de maternité"
# 0.84, "sick leave" and "arrêt maladie" 0.58); the best run of a sentence not naming
# the term up to 0.71 ("daily allowance" and "versée par jour", "company car" and
# "entreprise" 0.70). A wrong alignment costs little: the run must still be named as
# the time or the condition of something else with no measure of its own beside it.
ALIGNED = 0.70
_LONGEST = 4


def in_passing_across(sentence: str, term: Term, encode: Encode) -> bool:
    """`in_passing` for a sentence in another language than the term: its words found
    by the multilingual encoder (`span_across`), their role read as within one."""
    where = span_across(sentence, term.text, encode)
    return where is not None and passing_at(sentence, *where)


def span_across(sentence: str, phrase: str, encode: Encode) -> tuple[int, int] | None:
    """The offsets of the run of words of `sentence` (in another language) closest to
    `phrase` in the multilingual space, if at least ALIGNED: 1 to 4 words, neither
    first nor last an article or a preposition."""
    words = [(m.start(), m.end(), m.group().lower()) for m in _WORD.finditer(sentence)]
    runs = [
        (words[i][0], words[j][1])
        for i in range(len(words))
        for j in range(i, min(i + _LONGEST, len(words)))
        if words[i][2] not in _FILLERS and words[j][2] not in _FILLERS
    ]
    if not runs or not phrase.strip():
        return None
    vectors = encode([phrase] + [sentence[a:b] for a, b in runs])
    scores = vectors[1:] @ vectors[0]
    best = int(np.argmax(scores))
    return runs[best] if float(scores[best]) >= ALIGNED else None
