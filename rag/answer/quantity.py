"""Does a question ask for a quantity, and does a sentence of the answer give one?

"Depuis combien de temps le salarié doit-il habiter dans un quartier prioritaire… ?"
asked of a fiche that says where the employee must live, not for how long, was
answered "Le salarié doit habiter dans un quartier prioritaire… [1]": every word
supported, nothing of what was asked. An answer to "combien", "how many", "how long"
states a quantity: a figure, a number word ("deux", "twelve"), or one of the words
that answer such a question without one ("aucun", "gratuit", "unlimited",
"plusieurs"). Verification (rag.answer.verify) removes an answer none of whose
sentences does.

Only the interrogatives that can be answered in no other way: "quel délai", "quelle
durée" are often answered "il varie selon l'infraction" (spf's "Justice pénale :
quels délais de prescription ?"), and "quel montant" by "il dépend de vos revenus".

Hand-written: the words are few, and no library tells a question's expected answer
type in French and English.
"""

from __future__ import annotations

import re

_ASKS = re.compile(
    r"\bcombien\b|\bà partir de quel âge\b|\bquel âge\b"
    r"|\bhow (?:many|much|long|old|often)\b|\bat what age\b",
    re.IGNORECASE,
)

# "un"/"une", "one", "a" are articles and pronouns as often as numbers: they count only
# before a unit ("un jour par semaine", "one week", "a month").
_UNITS = (
    r"jours?|journ[ée]es?|semaines?|mois|ans?|ann[ée]es?|heures?|minutes?|fois|euros?"
    r"|days?|weeks?|months?|years?|hours?|minutes?|times?|dollars?|pounds?|percent"
)
_GIVES = re.compile(
    r"\d"
    r"|\b(?:z[ée]ro|deux|trois|quatre|cinq|six|sept|huit|neuf|dix|onze|douze|treize"
    r"|quatorze|quinze|seize|vingt|trente|quarante|cinquante|soixante|cent|cents|mille"
    r"|millions?|milliards?|demie?|moiti[ée]|quart|tiers|double|triple|douzaine"
    r"|zero|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen"
    r"|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty"
    r"|sixty|seventy|eighty|ninety|hundreds?|thousands?|billions?|half|quarter|dozens?"
    r"|once|twice|thrice)\b"
    rf"|\b(?:un|une|one|a|an)\s+(?:seule?\s+|single\s+)?(?:{_UNITS})\b"
    r"|\b(?:aucune?|rien|gratuite?s?|gratuitement|illimit[ée]e?s?|sans limite|plusieurs"
    r"|quelques|none|nothing|free|unlimited|no limit|several|few|many|never|jamais)\b",
    re.IGNORECASE,
)


def asks_quantity(question: str) -> bool:
    """Does the question ask how many, how much, how long, how old?"""
    return _ASKS.search(question) is not None


def gives_quantity(sentence: str) -> bool:
    """Does the sentence state a quantity (or none, free, unlimited…)?"""
    return _GIVES.search(sentence) is not None
