"""Does a question ask for a quantity, and does a sentence of the answer give one?

"Depuis combien de temps le salarié doit-il habiter dans un quartier prioritaire… ?"
asked of a fiche that says where the employee must live, not for how long, was
answered "Le salarié doit habiter dans un quartier prioritaire… [1]": every word
supported, nothing of what was asked. An answer to "combien", "how many", "how long"
states a quantity: a figure, a number word ("deux", "twelve"), or one of the words
that answer such a question without one ("aucun", "gratuit", "unlimited",
"plusieurs", "immédiatement", "jusqu'à la fin du contrat", "tous les salariés",
"chaque année"). Verification (rag.answer.verify) removes an answer none of whose
sentences does. ("How often" is not asked: its answers, "every year", "annually",
are too many forms.)

Only the interrogatives that can be answered in no other way: "quel délai", "quelle
durée" are often answered "il varie selon l'infraction" (spf's "Justice pénale :
quels délais de prescription ?"), and "quel montant" by "il dépend de vos revenus".

Hand-written: the words are few, and no library tells a question's expected answer
type in French and English.
"""

from __future__ import annotations

import re

_ASKS = re.compile(
    r"\bcombien\b|\bquel âge\b|\bhow (?:many|much|long|old)\b|\bat what age\b",
    re.IGNORECASE,
)

# "un"/"une", "one", "a" are articles and pronouns as often as numbers: they count only
# before a unit ("un jour par semaine", "one week", "a month").
_UNITS = (
    r"jours?|journ[ée]es?|semaines?|mois|ans?|ann[ée]es?|heures?|minutes?|fois|euros?"
    r"|trimestres?|semestres?|days?|weeks?|months?|years?|hours?|minutes?|times?"
    r"|dollars?|pounds?|percent|quarters?"
)
_GIVES = re.compile(
    r"\d"
    r"|\b(?:z[ée]ro|deux|trois|quatre|cinq|six|sept|huit|neuf|dix|onze|douze|treize"
    r"|quatorze|quinze|seize|vingt|trente|quarante|cinquante|soixante|cent|cents|mille"
    r"|millions?|milliards?|demie?|moiti[ée]|quart|tiers|double|triple|douzaine"
    r"|zero|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen"
    r"|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty"
    r"|sixty|seventy|eighty|ninety|hundreds?|thousands?|billions?|half|quarter|dozens?"
    r"|once|twice|thrice|dizaines?|centaines?|thirds?|couple)\b"
    rf"|\b(?:un|une|one|a|an|premi[eè]re?s?|first|chaque|each|every|tous les|toutes les)"
    rf"\s+(?:seule?\s+|single\s+)?(?:{_UNITS})\b"
    # What answers how many, how much, how long, how old without a figure.
    r"|\b(?:aucune?|rien|gratuite?s?|gratuitement|illimit[ée]e?s?|sans limite|plusieurs"
    r"|quelques|none|nothing|free|unlimited|no limit|several|few|many|never|jamais"
    r"|seule?s?|only|tou(?:te)?s les|all|immédiate?(?:ment)?|immediately|jour même|same day"
    r"|sans délai|dès|jusqu'(?:à|au|aux)|until|quinzaine|fortnight|à vie|for life|lifetime"
    r"|permanent\w*|définiti\w*|totalité|intégral\w*|entièrement|in full|fully|sans frais"
    r"|no (?:charge|cost|fee)|sans plafond|no cap|pas limitée?s?|not limited|majeure?s?"
    r"|majorité|adults?|naissance|birth)(?!\w)",
    re.IGNORECASE,
)


def asks_quantity(question: str) -> bool:
    """Does the question ask how many, how much, how long, how old?"""
    return _ASKS.search(question) is not None


def gives_quantity(sentence: str) -> bool:
    """Does the sentence state a quantity (or none, free, unlimited, until…)? Lenient:
    an answer that says how many in words this list lacks would be lost, one that
    says nothing of it is the near miss this is for."""
    return _GIVES.search(sentence.replace("\u2019", "'")) is not None
