"""A small fictional company's documents, written as PDF, DOCX, HTML and Markdown.

`rag demo` writes them and ingests them, so a fresh machine has something real
to search without any company data. The facts are invented (company "Nordlys
Conseil") and each sits on a known page, which the tests use too.
"""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime
from pathlib import Path

# (title, [pages]) where each page is a list of (heading or "", paragraph) blocks.
HANDBOOK_FR: tuple[str, list[list[tuple[str, str]]]] = (
    "Nordlys Conseil - Livret d'accueil du salarié",
    [
        [
            (
                "Bienvenue chez Nordlys Conseil",
                "Nordlys Conseil est un cabinet de conseil de "
                "85 salariés, installé à Caen et à Lyon. Ce livret rassemble les règles "
                "pratiques de la vie dans l'entreprise.",
            ),
            (
                "Horaires",
                "Les bureaux sont ouverts de 8 h à 19 h. La plage fixe de présence "
                "va de 10 h à 16 h, avec une pause déjeuner d'au moins 45 minutes.",
            ),
        ],
        [
            (
                "Congés payés",
                "Chaque salarié acquiert 25 jours ouvrés de congés payés par an. "
                "Les demandes de congés se font dans l'outil RH au moins un mois à l'avance. "
                "Le fractionnement du congé principal donne droit à 2 jours supplémentaires.",
            ),
            (
                "Congés pour événements familiaux",
                "Le mariage du salarié donne droit à 5 jours "
                "de congé payé. La conclusion d'un PACS donne droit à 4 jours. La naissance "
                "d'un enfant donne droit à 3 jours, en plus du congé de paternité.",
            ),
        ],
        [
            (
                "Télétravail",
                "Le télétravail est possible jusqu'à 2 jours par semaine, après la "
                "période d'essai, avec l'accord du manager. Une indemnité de 2,50 euros est "
                "versée par jour télétravaillé, dans la limite de 50 euros par mois.",
            ),
            (
                "Matériel",
                "Chaque salarié reçoit un ordinateur portable et un casque. Le "
                "matériel perdu ou volé doit être signalé au support informatique sous 24 heures.",
            ),
        ],
        [
            (
                "Sécurité informatique",
                "Les mots de passe comptent au moins 14 caractères et "
                "ne sont jamais partagés. L'authentification à deux facteurs est obligatoire "
                "pour la messagerie et l'intranet. Un courriel suspect se signale à "
                "securite@nordlys.example.",
            ),
            (
                "Mutuelle",
                "La mutuelle d'entreprise est prise en charge à 60 % par "
                "l'employeur. L'adhésion se fait dès le premier jour de travail.",
            ),
        ],
    ],
)

EXPENSES_EN = (
    "Nordlys Conseil - Travel and Expense Policy",
    [
        (
            "Scope",
            "This policy applies to every employee who travels for work or spends "
            "money on behalf of Nordlys Conseil.",
        ),
        (
            "Submitting expenses",
            "Expense reports are submitted in the finance tool within "
            "30 days of the expense, with a scanned receipt for every item above 10 euros. "
            "Reports are reimbursed with the next monthly salary.",
        ),
        (
            "Travel",
            "Train travel is second class for trips under 4 hours. Flights need the "
            "approval of the finance director. Hotel nights are capped at 120 euros in Paris "
            "and 90 euros elsewhere.",
        ),
        (
            "Meals",
            "Meals during business travel are reimbursed up to 25 euros per meal. "
            "Alcohol is never reimbursed.",
        ),
    ],
)

ONBOARDING_MD = """---
title: Onboarding checklist / Liste d'intégration
---

# Onboarding checklist

## Before the first day

- The manager books a desk and orders the laptop two weeks ahead.
- HR sends the welcome email with the address of the office.

## First week

- Meet your buddy, who answers practical questions during the first month.
- Complete the security training before the end of the first week.

# Liste d'intégration

## Première semaine

- Le parrain ou la marraine accompagne le nouveau salarié pendant son premier mois.
- La formation à la sécurité informatique est à suivre avant la fin de la première semaine.
"""

SALARIES_HR_MD = """# Politique de rémunération (confidentiel RH)

## Révision annuelle

Les augmentations individuelles sont décidées en mars, sur proposition du manager.
Le budget d'augmentation de l'année est de 3 % de la masse salariale.

## Prime d'objectifs

La prime d'objectifs représente jusqu'à 10 % du salaire annuel brut des consultants.
Elle est versée en février.
"""

IT_FAQ_HTML = """<!DOCTYPE html>
<html lang="fr"><head><title>FAQ du support informatique</title></head>
<body>
<nav><a href="/">Accueil</a> | <a href="/rh">RH</a> | <a href="/it">Informatique</a></nav>
<main>
<h1>FAQ du support informatique</h1>
<h2>Comment joindre le support ?</h2>
<p>Le support informatique répond au poste 4242 du lundi au vendredi, de 8 h 30 à 18 h.
En dehors de ces horaires, ouvrez un ticket sur l'intranet.</p>
<h2>Comment installer un logiciel ?</h2>
<p>Les logiciels s'installent depuis le portail d'entreprise. Un logiciel absent du
portail fait l'objet d'une demande validée par le manager.</p>
</main>
<footer>Nordlys Conseil - intranet - mentions légales</footer>
</body></html>
"""


# The date written into the generated PDF and DOCX, instead of now: the same bytes on
# every `rag demo`, so re-ingesting them is a no-op (ingest compares content hashes;
# with the time of writing inside, the handbook and the expense policy were "updated"
# and embedded again at each `make serve`).
_WRITTEN = datetime(2026, 1, 1, tzinfo=UTC)


def _pdf_text(text: str) -> str:
    # The PDF core fonts cover cp1252 only; keep the demo free of other characters.
    return text.replace("\u2019", "'").replace("\u202f", " ")


def write_handbook_pdf(path: Path) -> None:
    from fpdf import FPDF

    title, pages = HANDBOOK_FR
    pdf = FPDF()
    pdf.set_title(_pdf_text(title))
    pdf.set_creation_date(_WRITTEN)
    for number, blocks in enumerate(pages, start=1):
        pdf.add_page()
        if number == 1:
            pdf.set_font("Helvetica", "B", 16)
            pdf.multi_cell(0, 10, _pdf_text(title), new_x="LMARGIN", new_y="NEXT")
        for heading, paragraph in blocks:
            pdf.set_font("Helvetica", "B", 13)
            pdf.multi_cell(0, 8, _pdf_text(heading), new_x="LMARGIN", new_y="NEXT")
            pdf.set_font("Helvetica", "", 11)
            pdf.multi_cell(0, 6, _pdf_text(paragraph), new_x="LMARGIN", new_y="NEXT")
            pdf.ln(3)
    pdf.output(str(path))


def write_expenses_docx(path: Path) -> None:
    import docx

    title, sections = EXPENSES_EN
    document = docx.Document()
    document.core_properties.title = title
    document.core_properties.created = document.core_properties.modified = _WRITTEN
    document.add_heading(title, level=1)
    for i, (heading, paragraph) in enumerate(sections):
        if i == 2:
            document.add_page_break()  # Travel and Meals sit on page 2
        document.add_heading(heading, level=2)
        document.add_paragraph(paragraph)
    written = io.BytesIO()
    document.save(written)
    # python-docx stamps each zip member with the time of writing.
    with zipfile.ZipFile(written) as source, zipfile.ZipFile(path, "w") as target:
        for member in source.infolist():
            stamped = zipfile.ZipInfo(member.filename, date_time=_WRITTEN.timetuple()[:6])
            stamped.compress_type = member.compress_type
            target.writestr(stamped, source.read(member))


def write_demo_corpus(folder: Path) -> dict[str, list[Path]]:
    """Write the demo documents into folder/{public,hr,finance}; returns them by group."""
    layout = {
        "public": ["livret-accueil.pdf", "onboarding.md", "faq-informatique.html"],
        "hr": ["remuneration.md"],
        "finance": ["expense-policy.docx"],
    }
    written: dict[str, list[Path]] = {}
    for group, names in layout.items():
        target = folder / group
        target.mkdir(parents=True, exist_ok=True)
        written[group] = []
        for name in names:
            path = target / name
            if name.endswith(".pdf"):
                write_handbook_pdf(path)
            elif name.endswith(".docx"):
                write_expenses_docx(path)
            elif name.endswith(".html"):
                path.write_text(IT_FAQ_HTML, encoding="utf-8")
            elif name == "remuneration.md":
                path.write_text(SALARIES_HR_MD, encoding="utf-8")
            else:
                path.write_text(ONBOARDING_MD, encoding="utf-8")
            written[group].append(path)
    return written
