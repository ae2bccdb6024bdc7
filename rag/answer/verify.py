"""Verification of a generated answer: every sentence kept is supported by the source
sentence it cites, and that sentence bears on the question; the rest is re-attributed
or removed.

For each sentence of the draft (rag.answer.citations parses them with their `[n]` markers):
1. each cited source is searched for the sentence that supports the answer's
   sentence and bears on the question; a cited source without one loses its citation;
2. a sentence left with no citation (it cited none, only numbers that do not exist,
   or only sources that fail) is attributed post hoc to the best such window of any
   source, if one passes;
3. otherwise it is removed, with the reason.
An answer to "combien", "how many", "how long" none of whose kept sentences states a
quantity is removed whole (rag.answer.quantity); so is an answer to "how long is X"
all of whose kept sentences name X only in passing (rag.answer.measure), and one to
"what is X" none of whose kept sentences speaks of X.
The rule users rely on: cited and verified, or not said.

Support within the question's language is lexical (rag.answer.citations.support_score:
content stems, numbers weigh double). Across languages no word is shared, so it is the
multilingual cosine of claim and sentence or, where that falls short and the service
gives the verifier a translator, the claim put into the source's language by the LLM and
checked word by word (the translation kept only if it says the same). In both, a number
the claim states is a hard anchor: one that is neither in the source sentence nor in the
question makes the claim unsupported ("4 jours" against "5 jours" is the typical
invention). So is the period a figure is counted per: a claim "par an" (per year,
monthly...) whose source sentence does not count by that period (nor its heading or
document's title name it) is unsupported ("50 euros par an" against "50 euros par mois";
"a daily allowance of 25 days" against "25 jours de congés par an"); and the period a
figure counts: "a 2-week trial" is not what "2 jours" says. And asked what something is,
a claim saying what it is needs a sentence that does not name it only after a
preposition ("Après la période d'essai, un salarié peut…" says what holds after it;
rag.answer.definition); asked how long or how much something is, a claim stating it
needs a sentence that does not name it only in passing ("…jusqu'à 2 jours par semaine,
après la période d'essai" does not say how long the trial period lasts;
rag.answer.measure). Nor does a sentence support a claim binding one of its figures to
what the passage says of another figure ("construit avant le 23 décembre 1986" where the
tenants moved in before that date; rag.answer.binding). Bearing on the question is
rag.answer.evidence's relevance, relative to the best sentence of the sources: a claim
that repeats the paid-leave sentence does not answer a question about marriage leave.
Where the service gives it a judge (the LLM, asked whether the sentence says what the
claim says as an answer to the question), a citation that passes both is vetoed under
the judge's threshold; the judge never passes one they fail (bench/citation_support.py
measured both ways). A question word that no source in the question's language holds
("repas" asked of a handbook that only speaks of a telework allowance) weighs nothing in
relevance, and a claim can bind it to a sentence about something else ("l'indemnité de
repas est de 2,50 euros" from "une indemnité de 2,50 euros par jour télétravaillé").
With a judge of mentions, a claim stating a figure is kept only if the LLM says the
cited sentence speaks of it, under another name perhaps ("longueur minimale" for "au
moins 14 caractères"); under its threshold the citation fails (bench/abstention.py,
bench/demo_questions.py). The names a claim states that its source does not spell out
("the United States", "Popeye the Sailor" cited to a page on Friends) are put to the
judge of mentions as well: neither the multilingual cosine nor word-level support tells
one name from another. Asked who, within one language, the cited sentence must name
someone the claim names beyond the question (`_names_no_one_here`)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from rag.answer.binding import swaps_binding
from rag.answer.citations import Statement, support_score
from rag.answer.definition import (
    Role,
    asks_definition,
    defined_term,
    opens_with_pronoun,
    role,
    span,
    swaps_role,
)
from rag.answer.evidence import Evidence, Source, Window, names, numbers, spells_out
from rag.answer.language import says_the_same
from rag.answer.measure import in_passing, in_passing_across, measured_term, states_measure
from rag.answer.quantity import asks_quantity, gives_quantity
from rag.answer.rates import claimed_rates, counted_periods, named_periods, stated_rates
from rag.text import content_stems, detect_language

# Reasons a sentence is removed, as the API reports them.
UNSUPPORTED = "unsupported"  # no source sentence says it
OFF_TOPIC = "off_topic"  # a source says it, but not in a sentence about the question
RESTATES = "restates_question"  # it says nothing the question did not already say
# The question asks how many (how long, how much) and no sentence of the answer says it.
NO_QUANTITY = "no_quantity"


# The LLM's probability that a source sentence (with its context) says what a claim
# says, as an answer to the question; None when the LLM cannot tell (it is not
# answering, or gives no token probabilities): the word-level check then stands alone.
Judge = Callable[[str, str], float | None]
# The LLM's probability that a source sentence (with its context) speaks of what a
# phrase of the question names; None when it cannot tell.
Mentions = Callable[[str, str], float | None]
# A claim put into a language by the LLM ("" when it cannot): across languages, a
# claim the multilingual cosine does not vouch for is checked word by word in the
# source's language.
Translate = Callable[[str, str], str]

# Sentences put to the LLM per claim and source, and for a post-hoc attribution, at
# most (counting those that cost a fresh prompt). Each costs the judge's prompt and,
# where the judge of mentions is asked, one per phrase and one per name
# (MENTIONS_ASKED at most of each): about a second each on two cores, so at most
# JUDGED_PER_CHECK x (1 + 2 x MENTIONS_ASKED) prompts per claim and source; names
# its source does not spell out are rare in a claim in the source's language.
JUDGED_PER_CHECK = 2
# A question asking who: its answer is a name.
_ASKS_WHO = re.compile(r"\s*(?:who|whom|whose|qui|par qui|à qui)\b", re.IGNORECASE)
# Claims of one draft put into a source's language by the LLM, at most: each costs a
# generation (3-5 s on two cores), and a draft of nine unverified sentences took 35 s
# of translations on spf-en without one of them passing.
TRANSLATED_PER_DRAFT = 2
# Phrases of the question, and names of the claim, put to the judge of mentions per
# sentence, at most (each).
MENTIONS_ASKED = 2


@dataclass(frozen=True)
class VerifySettings:
    support_threshold: float = 0.5
    relevance_ratio: float = 0.75
    cross_language_support: float = 0.5
    judge_veto: float = 0.0
    """With a judge: a citation the word-level check passes fails under this P(yes).
    (The judge only vetoes: letting it pass claims the word-level check fails added
    invented claims and no right one, bench/citation_support.py.)"""
    mention_veto: float = 0.0
    """With a judge of mentions: a claim stating a figure the question does not, cited
    to a sentence in the question's language, fails when the sentence speaks of a
    question phrase no source holds with a P(yes) under this."""


@dataclass
class Check:
    """The best window of one source for one sentence."""

    window: Window
    support: float
    relevance: float
    supported: bool  # support and relevance both pass (and the judge, where asked)
    judged: float | None = None  # the judge's P(yes), where it was asked
    mentioned: float | None = None  # the least P(yes) of the judge of mentions, where asked
    label: str = ""  # how the answer cites its source: "1", "W2"


@dataclass
class Removal:
    text: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "reason": self.reason}


@dataclass
class Verified:
    text: str  # the sentence, markers removed
    checks: list[Check]  # one per source it now cites, in citation order
    reattributed: bool = False  # its citations are not the ones the model wrote


@dataclass
class Verification:
    kept: list[Verified] = field(default_factory=list)
    removed: list[Removal] = field(default_factory=list)
    # A claim of how long or how much the question's term is met a sentence naming it
    # only in passing (rag.answer.measure): the sources were found to hold the answer
    # on the strength of a sentence that does not give it.
    in_passing: bool = False

    def text(self) -> str:
        """The answer from the kept sentences, each ending with its markers."""
        parts = []
        for sentence in self.kept:
            body = sentence.text.rstrip()
            end = body[-1] if body and body[-1] in ".!?" else "."
            body = body[:-1].rstrip() if body and body[-1] in ".!?" else body
            markers = "".join(
                f"[{label}]" for label in dict.fromkeys(c.label for c in sentence.checks)
            )
            parts.append(f"{body} {markers}{end}")
        return " ".join(parts)


class Verifier:
    """Checks the sentences of one answer against its sources (rag.answer.evidence)."""

    def __init__(
        self,
        evidence: Evidence,
        settings: VerifySettings,
        judge: Judge | None = None,
        mentions: Mentions | None = None,
        translate: Translate | None = None,
    ) -> None:
        self.evidence = evidence
        self.translate = translate
        self._translations: dict[tuple[str, str], str] = {}
        self.settings = settings
        self.judge = judge if settings.judge_veto > 0 else None
        self.mentions = mentions if settings.mention_veto > 0 else None
        self._mentioned: dict[tuple[int, str], float | None] = {}
        self._claim_vectors: dict[str, np.ndarray] = {}
        self._question_numbers = numbers(evidence.question)
        self._question_stems = content_stems(evidence.question, evidence.lang)
        self._asks_definition = asks_definition(evidence.question)
        self._asks_who = _ASKS_WHO.match(evidence.question) is not None
        self._term = defined_term(evidence.question, evidence.lang)
        self._measured = measured_term(evidence.question, evidence.lang)
        self._across: dict[int, bool] = {}  # in passing, by window in another language
        self._in_passing = False
        self._judged: dict[tuple[int, str], float | None] = {}

    def verify(self, statements: list[Statement], labels: dict[str, int]) -> Verification:
        """`labels` maps what a statement cites ("1", "W2") to the source's index."""
        result = Verification()
        for statement in statements:
            if self._restates(statement.text):
                result.removed.append(Removal(statement.text, RESTATES))
                continue
            cited = [str(n) for n in statement.sources] + [f"W{n}" for n in statement.web]
            indexes = [labels[c] for c in cited if c in labels]
            checks = [c for c in (self.check(statement.text, i) for i in indexes) if c]
            kept = [c for c in checks if c.supported]
            reattributed = False
            if not kept:
                best = self.attribute(statement.text)
                if best is not None:
                    kept, reattributed = [best], True
            if kept:
                for check in kept:
                    check.label = self.evidence.sources[check.window.source].label
                result.kept.append(Verified(statement.text, kept, reattributed))
            else:
                reason = OFF_TOPIC if self._said_off_topic(statement.text) else UNSUPPORTED
                result.removed.append(Removal(statement.text, reason))
        if asks_quantity(self.evidence.question) and not any(
            gives_quantity(v.text) for v in result.kept
        ):
            # Each sentence may be supported; together they do not say how many.
            result.removed += [Removal(v.text, NO_QUANTITY) for v in result.kept]
            result.kept = []
        if (
            result.kept
            and self._measured
            and all(self._names_in_passing(v.text) for v in result.kept)
        ):
            # "Après la période d'essai, le télétravail est possible 2 jours par
            # semaine" is true, and no answer to how long the trial period lasts.
            result.removed += [Removal(v.text, NO_QUANTITY) for v in result.kept]
            result.kept = []
            self._in_passing = True
        result.in_passing = self._in_passing
        if result.kept and not any(self._names_defined(v.text) for v in result.kept):
            # Each sentence may be supported and on the page about it; none says what
            # the thing asked about is.
            result.removed += [Removal(v.text, OFF_TOPIC) for v in result.kept]
            result.kept = []
        return result

    def _names_defined(self, claim: str) -> bool:
        """Where the question surely asks what something is ("Qu'est-ce qu'une grâce
        présidentielle ?"), does this sentence of the answer speak of it? A definition
        names what it defines, or opens with a pronoun standing for it ("C'est…",
        "It is…"); naming it only after a preposition ("Après la période d'essai, un
        salarié peut…") says what holds around it, not what it is. spf's grâce
        présidentielle, its fiche left out, was answered "Les réparations civiles
        prononcées restent applicables [1]": true, from a page on the grâce, and no
        answer. True for any other question (rag.answer.definition)."""
        term = self._term
        if term is None or not self._asks_definition or opens_with_pronoun(claim):
            return True
        if role(claim, term, self.evidence.lang) is Role.GOVERNED:
            return False
        return bool(term.stems & content_stems(claim, self.evidence.lang))

    def _restates(self, claim: str) -> bool:
        """Does the claim say nothing the question did not? "Les conséquences de
        l'inaptitude physique sont [1]." finds every word in its source because every
        word is the question's. A question is no answer ("Qui est couvert ?", a heading
        the model echoes). And a definition asked for ("Qu'est-ce qu'un…", "What is
        a…") is not given by repeating the whole question with one word more: "Un
        logement soumis à la loi de 1948 est un logement réglementé par la loi de
        1948." (A figure is an answer: "Le PACS donne droit à 4 jours.")"""
        if claim.rstrip().endswith("?"):
            return True
        lang = self.evidence.lang
        said, asked = content_stems(claim, lang), self._question_stems
        new = said - asked - _citing_stems(lang)
        if not new:
            return True
        circular = len(new) == 1 and asked <= said and not numbers(claim) - self._question_numbers
        return circular and self._asks_definition

    def check(self, claim: str, source: int) -> Check | None:
        """The source's window that best supports the claim among those bearing on
        the question (or, failing that, its best-supporting window, flagged)."""
        return self._pick(claim, [self._score(claim, w) for w in self.evidence.windows_of(source)])

    def attribute(self, claim: str) -> Check | None:
        """Post-hoc attribution: the best supported window of any source, or None."""
        best = self._pick(claim, [self._score(claim, w) for w in self.evidence.windows])
        return best if best is not None and best.supported else None

    def _pick(self, claim: str, checks: list[Check]) -> Check | None:
        """The best of these checks of one claim. With a judge (or a judge of
        mentions), the word-level winners are put to it in turn (at most
        JUDGED_PER_CHECK), and one it doubts is vetoed:
        enough of a hallucinated answer's words are often in the passage (HaluEval's
        "The Bunkhouse Stampede Finals was held in New York City.", which the judge
        gives 0.36)."""
        if not checks:
            return None
        ordered = sorted(checks, key=lambda c: (c.supported, c.support, c.relevance), reverse=True)
        asked = 0  # checks that cost the LLM a call in this pick (repeated ones are cached)
        for check in (c for c in ordered if c.supported):
            if asked == JUDGED_PER_CHECK:
                break
            asked += self._vet(check, claim)
            if check.supported:
                return check
        return ordered[0]

    def _vet(self, check: Check, claim: str) -> bool:
        """Puts a check the word-level test passed to the LLM, where the service gives
        one: does the sentence say what the claim says (the judge), and does it speak
        of the question's phrases no source holds (the judge of mentions)? A doubt
        fails the check. True when this cost the LLM a call (answers are cached)."""
        asked = False
        if self.judge is not None:
            check.judged, fresh = _ask(self._judged, self.judge, check.window, claim)
            asked |= fresh
            if check.judged is not None and check.judged < self.settings.judge_veto:
                check.supported = False
                return asked
        if self.mentions is None:
            return asked
        source = self.evidence.sources[check.window.source]
        crosses = self.evidence.crosses(source)
        about: list[str] = []
        if numbers(claim) - self._question_numbers:
            # A figure is what a near miss binds to the question's words (the
            # neighbouring figure); a claim stating none repeats the question's
            # wording ("Oui, un intérimaire a droit au projet de transition
            # professionnelle", the source saying "congé pour transition
            # professionnelle"), which the judge of mentions refused (0.36).
            # A source in another language holds none of the question's words: it is
            # asked about the question's phrases, all of them (the multilingual cosine
            # took "a civil partnership gives 5 days" from the marriage sentence).
            phrases = self.evidence.phrases if crosses else self.evidence.unmatched
            about += phrases[:MENTIONS_ASKED]
        # A name the claim states that its source does not spell out is asked about
        # too: it may be translated ("European Union", "Union européenne") or spelled
        # out ("la Caisse d'allocations familiales" for "la Caf"), or not be the
        # source's at all: clapnq's "who owns the rights to popeye the sailor" was
        # answered "Popeye the Sailor's rights are owned by Jerry Seinfeld and Bill
        # Cosby [2]" from a page on the sitcom Friends (word-level support 0.63),
        # and spf-en's "a president of the United States can grant…" passed the
        # multilingual cosine (0.51) against the French sentence on the Président de
        # la République.
        about += self._unspelled_names(claim, check.window)[:MENTIONS_ASKED]
        stated = names(claim) if crosses else []
        for phrase in about:
            # Across languages, a name the claim repeats from the question ("le Sommet
            # de la Terre de Rio de Janeiro") is asked of the whole passage: the
            # sentence with the fact seldom names the subject again ("Agenda 21 is a
            # non-binding … action plan of the United Nations…", the Earth Summit
            # named in the next sentence: 0.08 asked of the sentence alone). The
            # question's phrases and the claim's own names are asked of the sentence.
            whole = phrase in stated and spells_out(self.evidence.question, phrase)
            said, fresh = _ask(
                self._mentioned, self.mentions, check.window, phrase, source if whole else None
            )
            asked |= fresh
            if said is None:
                continue
            check.mentioned = said if check.mentioned is None else min(check.mentioned, said)
            if said < self.settings.mention_veto:
                check.supported = False
                return asked
        return asked

    def _unspelled_names(self, claim: str, window: Window) -> list[str]:
        """The names the claim states that the source (its text, title and heading)
        does not spell out, accents and case aside. The question's names too: a claim
        binding them to a page that never names them is the near miss."""
        source = self.evidence.sources[window.source]
        held = f"{window.context} {source.text}"
        return [n for n in names(claim) if not spells_out(held, n)]

    def _names_no_one_here(self, claim: str, window: Window) -> bool:
        """Asked who, does the claim name someone (not the question's) only where the
        sentence and its context name no one it names? The answer to "who" is a name,
        and the sentence cited must say it. clapnq's "who talks for simba in the lion
        king" was answered "Randall talks for Simba in the Lion King [1]" citing "…
        Broderick learned of the role … casting him as Simba": every other word the
        question's (support 0.6), and the 1.5B judge said yes. The claim's opening word
        counts as a name when it is capitalised and not a function word ("Randall",
        not "The"): `names` leaves it out, a sentence's first word being capitalised
        anyway."""
        found = names(claim)
        opening = re.match(r"\W*([A-ZÀ-Ý][\w'-]*)", claim)
        if opening and content_stems(opening.group(1), self.evidence.lang):
            found.append(opening.group(1))
        asked = [n for n in found if not spells_out(self.evidence.question, n)]
        return bool(asked) and not any(spells_out(window.context, n) for n in asked)

    def _names_elsewhere(self, claim: str, window: Window) -> bool:
        """Across languages, does the claim state a name (not the question's) that its
        source spells out, only not in this sentence or its context? A person's or a
        place's name reads the same in both languages, so the sentence that says it is
        the one to cite; the multilingual cosine does not tell one name from another.
        clapnq-fr's "Qui joue la mère de Greg dans Journal d'un dégonflé ?" was answered
        "La mère de Greg … est Alicia Silverstone [1]" citing "Susan Heffley is Greg's
        mother." (cosine 0.54), the page naming her three sentences further down, in
        another film. Acronyms are left out: "l'UN" for the United Nations, spelled out
        in the sentence, is a translation, and the source's "UN Conference" elsewhere
        says nothing of it. Names the source never spells out go to the judge of
        mentions (`_unspelled_names`)."""
        source = self.evidence.sources[window.source]
        return any(
            spells_out(source.text, name) and not spells_out(window.context, name)
            for name in names(claim)
            if not name.isupper() and not spells_out(self.evidence.question, name)
        )

    def _said_off_topic(self, claim: str) -> bool:
        """Does some source support the claim, only not in a sentence about the
        question? (The reason reported for its removal.)"""
        for window in self.evidence.windows:
            if self._support(claim, window) >= self._threshold(window):
                return True
        return False

    def _threshold(self, window: Window) -> float:
        if self.evidence.crosses(self.evidence.sources[window.source]):
            return self.settings.cross_language_support
        return self.settings.support_threshold

    def _support(self, claim: str, window: Window) -> float:
        if not numbers(claim) <= numbers(window.text) | self._question_numbers:
            return 0.0
        if self.evidence.is_title_line(window) and not numbers(window.text):
            # A title line names a subject and says nothing of it: across languages
            # the cosine of a claim naming the subject to it is high, and clapnq-fr's
            # "La croix de Victoria est décernée par le roi britannique [1]" was kept
            # citing "Victoria Cross" (0.54), "Le drapeau … est un drapeau bleu…"
            # citing "Flag of the Democratic Republic of the Congo" (0.54). (A line
            # with a figure, "Mariage : 5 jours", says something.)
            return 0.0
        source = self.evidence.sources[window.source]
        said = stated_rates(window.text) | named_periods(f"{source.title} {source.heading}")
        if not claimed_rates(claim) <= said:
            # "50 cartouches par an" where the sentence says "pendant la durée de
            # l'autorisation"; "a daily allowance of 25 days" where it says "25 jours
            # par an" (a count of days, no daily figure). The heading or title may name
            # the period ("Prime annuelle"); the sentence before may not ("délivrée pour
            # 1 an" is about something else). rag.answer.rates.
            return 0.0
        context = f"{source.title} {source.heading} {self.evidence.question}"
        if not counted_periods(claim) <= counted_periods(window.text) | counted_periods(context):
            # "after the initial 2-week trial period" where the sentence says "2 jours
            # par semaine, après la période d'essai": the figure is there, not what it
            # counts.
            return 0.0
        if self._term and swaps_role(claim, window.text, self._term, self.evidence.lang):
            # "La période d'essai est une période pendant laquelle un salarié peut
            # travailler à distance… [1]" from "Après la période d'essai, un salarié
            # peut travailler à distance…": every word is there, the definition is not.
            return 0.0
        if not self.evidence.crosses(source):
            if swaps_binding(claim, window.text, source.text, self.evidence.lang):
                # "un logement construit avant le 23 décembre 1986" from "…entrés dans
                # les lieux avant le 23 décembre 1986…", the passage saying "construits
                # avant le 1 er septembre 1948": the figure is there, bound to
                # something else (rag.answer.binding).
                return 0.0
            if self._asks_who and self._names_no_one_here(claim, window):
                return 0.0
            score = support_score(claim, window.text, self.evidence.lang)
            if self._asks_definition:
                # What the claim says the term is, its words beyond the question's,
                # must be the sentence's too: spf's "Qu'est-ce qu'un récépissé de
                # demande de titre de séjour ?", its fiche left out, got "Un récépissé
                # de demande de titre de séjour est un document qui confirme que votre
                # demande a été rejetée ou acceptée [1]" from a list naming the
                # récépissés a refugee may show: half its words are the question's, so
                # half were found (0.5, the threshold), and none of what it adds.
                score = min(
                    score,
                    support_score(claim, window.text, self.evidence.lang, self._question_stems),
                )
        else:
            vector = self.evidence.vector(window)
            if vector is None:  # no multilingual encoder: nothing vouches for it
                return 0.0
            if self._names_elsewhere(claim, window):
                return 0.0
            score = max(float(self._claim_vector(claim) @ vector), 0.0)
            if score < self._threshold(window):
                score = max(score, self._support_translated(claim, window))
        if score >= self._threshold(window) and self._measures_in_passing(claim, window):
            # "La période d'essai … est de 2 jours par semaine" (or "The trial period
            # … is 2 days per week") from "Le télétravail est possible jusqu'à 2 jours
            # par semaine, après la période d'essai": every word is there, and the
            # figure is the telework's (rag.answer.measure).
            return 0.0
        return score

    def _support_translated(self, claim: str, window: Window) -> float:
        """Word-level support of the claim, put into the source's language, by its
        sentence there. The multilingual cosine scores a faithful paraphrase across
        languages low: the demo's "To install software, you can access the portal of
        the enterprise." is 0.44 from "Les logiciels s'installent depuis le portail
        d'entreprise.". Translated ("Pour installer un logiciel, vous pouvez accéder
        au portail de l'entreprise."), its words are the sentence's. The translation
        counts only if it says what the claim says (rag.answer.language: the same
        figures, close in the multilingual space), so a model's drift towards the
        sources cannot make a claim pass."""
        if self.translate is None:
            return 0.0
        lang = detect_language(window.text, default=self.evidence.lang)
        key = (claim, lang)
        if key not in self._translations:
            if len(self._translations) >= TRANSLATED_PER_DRAFT:
                return 0.0
            translation = self.translate(claim, lang)
            same = says_the_same(claim, translation, lang, self.evidence.encode)
            self._translations[key] = translation if same else ""
        translation = self._translations[key]
        if not translation:
            return 0.0
        return support_score(translation, window.text, lang)

    def _names_in_passing(self, text: str) -> bool:
        """Does an answer sentence name the question's measured term only in passing?
        Where it does not name it in the question's language, the multilingual encoder
        looks for it in the other ("3 days, plus the congé de paternité")."""
        term, lang = self._measured, self.evidence.lang
        if term is None:
            return False
        if in_passing(text, term, lang):
            return True
        if span(text, term, lang) is not None or self.evidence.encode is None:
            return False
        return in_passing_across(text, term, self.evidence.encode)

    def _measures_in_passing(self, claim: str, window: Window) -> bool:
        """Does the claim say how long or how much the question's term is, from a
        sentence naming it only in passing? Across languages the term is found in the
        sentence by the multilingual encoder (once per window), or the check passes.
        Asked only of a sentence that would otherwise support the claim, so that
        `Verification.in_passing` says such a sentence is what the claim came from."""
        term, lang = self._measured, self.evidence.lang
        if term is None or not states_measure(claim, term, lang):
            return False
        if not self.evidence.crosses(self.evidence.sources[window.source]):
            passing = in_passing(window.text, term, lang)
        elif self.evidence.encode is None:
            return False
        else:
            if id(window) not in self._across:
                self._across[id(window)] = in_passing_across(
                    window.text, term, self.evidence.encode
                )
            passing = self._across[id(window)]
        self._in_passing |= passing
        return passing

    def _claim_vector(self, claim: str) -> np.ndarray:
        if claim not in self._claim_vectors:
            assert self.evidence.encode is not None
            self._claim_vectors[claim] = self.evidence.encode([claim])[0]
        return self._claim_vectors[claim]

    def _score(self, claim: str, window: Window) -> Check:
        score = self._support(claim, window)
        relevance = self.evidence.relevance(window)
        supported = score >= self._threshold(window) and relevance >= self.settings.relevance_ratio
        return Check(window, score, relevance, supported)


# How an answer points at its sources: no part of what it says. clapnq's unanswerable
# "where is deforestation occurring in the united states" was answered "Deforestation
# is occurring in the United States, as stated in the first source [1]", cited to the
# page's title line: every other word the question's.
_CITING = {
    "fr": "selon la source les sources le document les documents indiquent indiqué "
    "mentionne mentionné précise précisé dit la première deuxième troisième",
    "en": "according to the source sources document documents states stated indicates "
    "indicated mentions mentioned says said the first second third",
}


@lru_cache(maxsize=4)
def _citing_stems(lang: str) -> frozenset[str]:
    return frozenset(content_stems(_CITING.get(lang, _CITING["en"]), lang))


def _ask(
    cache: dict[tuple[int, str], float | None],
    judge: Callable[[str, str], float | None],
    window: Window,
    text: str,
    passage: Source | None = None,
) -> tuple[float | None, bool]:
    """A judge's verdict on this window (with its context), or on the whole `passage`
    when given, and text, asked once per answer; and whether it cost a fresh prompt."""
    key = (id(window) if passage is None else id(passage), text)
    if key in cache:
        return cache[key], False
    context = window.context if passage is None else f"{passage.title}\n{passage.text}".strip()
    cache[key] = judge(context, text)
    return cache[key], True
