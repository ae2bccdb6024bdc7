"""Rates in claims and sources (rag.answer.rates): what a figure is counted per."""

from __future__ import annotations

import unicodedata

import pytest

from rag.answer.rates import claimed_rates, counted_periods, named_periods, stated_rates


@pytest.mark.parametrize(
    ("claim", "rates"),
    [
        ("Le chasseur peut acheter 50 cartouches par an", {"year"}),
        ("2,50 euros par jour, au plus 50 euros par mois", {"day", "month"}),
        ("un plafond annuel de 600 euros", {"year"}),
        ("Le plafond mensuel de l\u2019indemnité est de 50 euros", {"month"}),
        ("une indemnité journalière de 3 euros", {"day"}),
        ("The daily allowance for remote work is 25 days per year", {"day", "year"}),
        ("3 fois tous les ans", {"year"}),
        ("It costs 25 euros a day", {"day"}),
        ("8 hours a day", {"day"}),
        ("10 euros/mois", {"month"}),
        ("12 €/h", {"hour"}),
        ("30 euros per annum", {"year"}),
        # No rate: counts, durations, adjectives away from what is counted, "a day off".
        ("25 jours de congés", set()),
        ("Le contrat dure 1 an", set()),
        ("for 1 year", set()),
        ("Annual leave is 25 days", set()),
        ("Employees with 2 children get a day off", set()),
        ("After 2 years, employees get a week off", set()),
        ("a semi-annual bonus of 500 euros", set()),
        ("up to 25 euros per meal", set()),
        # Without a figure there is nothing counted.
        ("une aide pour la vie quotidienne", set()),
        ("l'indemnité est versée par mois", set()),
    ],
)
def test_what_a_claim_counts_per(claim: str, rates: set[str]) -> None:
    assert claimed_rates(claim) == rates


@pytest.mark.parametrize(
    ("sentence", "rates"),
    [
        ("dans la limite de 50 euros par mois", {"month"}),
        ("30 euros per annum", {"year"}),
        ("25 euros la journée", {"day"}),
        ("remboursé en mensualités de 300 euros", {"month"}),
        ("Le taux horaire minimum est de 12 euros", {"hour"}),
        ("L'indemnité est versée chaque mois, sans plafond", {"month"}),
        # Counting by a period makes the others counts: 25 days is no daily figure.
        ("25 jours ouvrés de congés payés par an", {"year"}),
        # Counting by none, a sentence says the periods it names.
        ("2 days in any given week", {"day", "week"}),
        ("50 cartouches pendant la durée de l'autorisation", set()),
    ],
)
def test_what_a_source_sentence_counts_by(sentence: str, rates: set[str]) -> None:
    assert stated_rates(sentence) == rates


def test_named_periods_and_the_english_article() -> None:
    assert named_periods("Prime annuelle") == {"year"}
    assert named_periods("Cotisation (€/an)") == {"year"}
    assert named_periods("Le contrat dure un an") == {"year"}
    assert named_periods("an hour") == {"hour"}, "the English article is no year"


def test_decomposed_accents_read_as_composed() -> None:
    decomposed = unicodedata.normalize("NFD", "une indemnité journalière de 3 euros")
    assert claimed_rates(decomposed) == {"day"}
    assert stated_rates(unicodedata.normalize("NFD", "3 euros par année")) == {"year"}


@pytest.mark.parametrize(
    ("text", "counts"),
    [
        ("2 jours par semaine", {("2", "day")}),
        ("after the initial 2-week trial period", {("2", "week")}),
        ("25 jours ouvrés de congés payés par an", {("25", "day")}),
        ("1 an et 6 mois", {("1", "year"), ("6", "month")}),
        ("2,5 ans", {("2.5", "year")}),
        ("1 000 jours", {("1000", "day")}),
        ("within 30 days of the expense", {("30", "day")}),
        # Abbreviated, a word between, a range: the forms HR texts use.
        ("sous 24 h", {("24", "hour")}),
        ("de 8 h à 19 h", {("8", "hour"), ("19", "hour")}),
        ("5 jours ouvrés", {("5", "day")}),
        ("within 5 working days", {("5", "day")}),
        ("les 3 premiers jours", {("3", "day")}),
        ("de 2 à 5 jours", {("2", "day"), ("5", "day")}),
        ("between 3 and 6 months", {("3", "month"), ("6", "month")}),
        # A figure that counts no period, or a period no figure counts.
        ("25 euros a day", set()),
        ("10 €/mois", set()),
        ("from November 2015 to early 2016", set()),
        ("2 à 3 fois par an", set()),
    ],
)
def test_the_periods_a_figure_counts(text: str, counts: set[tuple[str, str]]) -> None:
    assert counted_periods(text) == counts
