from __future__ import annotations

from pathlib import Path

import pytest

from ingest.demo import write_demo_corpus
from ingest.pipeline import IngestService
from rag.errors import RagError, StoreMismatchError
from rag.retrieval.fusion import FusionWeights, reciprocal_rank_fusion
from rag.retrieval.hybrid import Retriever
from rag.retrieval.service import SearchService
from rag.settings import Settings
from rag.store.documents import filter_clause
from rag.text import detect_language, fts_query
from rag.types import SearchFilters
from tests.fakes import HashingEmbedder


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, Path]:
    root = tmp_path_factory.mktemp("demo")
    settings = Settings(data_dir=root / "data")
    ingest = IngestService(settings, embedder=HashingEmbedder(1024))
    for group, paths in write_demo_corpus(root / "docs").items():
        ingest.run(paths[0].parent, [group])
    return settings, root / "docs"


@pytest.fixture
def search(demo: tuple[Settings, Path]) -> SearchService:
    return SearchService(demo[0], embedder=HashingEmbedder(1024))


def names(hits) -> list[str]:
    return [Path(h.document.path).name for h in hits]


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_each_mode_finds_the_handbook_page(search: SearchService, mode: str) -> None:
    result = search.search("congés pour le mariage du salarié", k=3, mode=mode)
    assert names(result.hits)[0] == "livret-accueil.pdf"
    assert result.hits[0].chunk.page_start == 2


def test_french_stems_match_plural_and_accents(search: SearchService) -> None:
    assert fts_query("congés fractionnement", "fr") == '"conges" OR "cong" OR "fraction"*'
    result = search.search("fractionné", k=3, mode="bm25")
    assert names(result.hits)[0] == "livret-accueil.pdf"


def test_language_detection() -> None:
    assert detect_language("Combien de jours de congé pour un mariage ?") == "fr"
    assert detect_language("How many days of leave for a wedding?") == "en"
    # Too short to tell: the caller's language, whatever it is, the same at each call.
    assert detect_language("OK", default="en") == "en"
    assert detect_language("OK", default="fr") == "fr"


def test_a_passage_that_could_be_either_language_is_read_as_the_question_s() -> None:
    """Evidence and the answer's steps pass the question's language as the default:
    a passage too short to tell is not a passage in another language."""
    from rag.answer.evidence import Evidence, Source

    for lang in ("fr", "en"):
        assert not Evidence("Quoi ?", lang, [Source("1", "Paris.")]).crosses(Source("1", "Paris."))


def test_stemming_is_safe_from_several_threads_at_once() -> None:
    """The server stems on its search thread and in each answer's thread at the same
    time (BM25 queries, citation support). snowballstemmer's stemmers keep the word
    being stemmed in the object: one shared by threads raised IndexError (a 500) or
    silently gave another word's stem (a wrong BM25 query)."""
    import sys
    import threading

    from rag.text import content_stems

    texts = {
        "en": " ".join(["organisational responsibilities nationalization generously"] * 30),
        "fr": " ".join(["fractionnement congés télétravail indemnités"] * 30),
    }
    want = {lang: content_stems(text, lang) for lang, text in texts.items()}
    problems: list[str] = []

    def work() -> None:
        for i in range(20):
            lang = ("en", "fr")[i % 2]
            try:
                if content_stems(texts[lang], lang) != want[lang]:
                    problems.append("wrong stems")
                fts_query(texts[lang], lang)
            except Exception as exc:
                problems.append(repr(exc))

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads often: a race shows in every run
    try:
        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    assert not problems, f"{len(problems)} failures, e.g. {problems[:3]}"


def test_titles_count_for_bm25(search: SearchService) -> None:
    result = search.search("FAQ support informatique", k=3, mode="bm25")
    assert names(result.hits)[0] == "faq-informatique.html"


def test_groups_filter_and_the_user_who_sees_nothing(search: SearchService) -> None:
    query = "budget augmentation masse salariale prime"
    everyone = search.search(query, k=10)
    assert "remuneration.md" in names(everyone.hits)
    public = search.search(query, k=10, filters=SearchFilters(groups=("public",)))
    assert "remuneration.md" not in names(public.hits)
    assert public.hits and all("public" in h.chunk.groups for h in public.hits)
    for mode in ("dense", "bm25", "hybrid"):
        nothing = search.search(query, k=10, filters=SearchFilters(groups=()), mode=mode)
        assert nothing.hits == []


def test_document_path_and_date_filters(search: SearchService, demo) -> None:
    _, docs = demo
    finance = search.search(
        "hotel travel", k=10, filters=SearchFilters(path_prefix=str(docs / "finance"))
    )
    assert set(names(finance.hits)) == {"expense-policy.docx"}
    doc = search.store.get_document_by_path(str(docs / "public" / "onboarding.md"))
    only = search.search("security training", k=10, filters=SearchFilters(document_ids=(doc.id,)))
    assert set(names(only.hits)) == {"onboarding.md"}
    future = search.search("security", k=10, filters=SearchFilters(updated_after="2999-01-01"))
    assert future.hits == []


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_excluded_documents_are_hidden_and_the_rest_still_found(
    search: SearchService, demo, mode: str
) -> None:
    _, docs = demo
    query = "congés pour le mariage du salarié"
    handbook = search.store.get_document_by_path(str(docs / "public" / "livret-accueil.pdf"))
    assert names(search.search(query, k=10, mode=mode).hits)[0] == "livret-accueil.pdf"
    hidden = SearchFilters(exclude_document_ids=(handbook.id,))
    assert hidden.restricts
    result = search.search(query, k=10, filters=hidden, mode=mode)
    assert result.hits and "livret-accueil.pdf" not in names(result.hits)
    # It composes with the other filters, and hiding nothing restricts nothing.
    public = SearchFilters(groups=("public",), exclude_document_ids=(handbook.id,))
    kept = search.search(query, k=10, filters=public, mode=mode)
    assert set(names(kept.hits)) <= {"onboarding.md", "faq-informatique.html"}
    assert not SearchFilters(exclude_document_ids=()).restricts
    assert filter_clause(SearchFilters(exclude_document_ids=())) == ("1", [])


def test_every_hit_is_checked_again_after_retrieval(search: SearchService) -> None:
    """Even if the index returned a chunk the caller may not see, it never leaves."""
    retriever: Retriever = search.retriever
    hr_doc = next(d for d in search.store.list_documents() if d.groups == ("hr",))
    hr_chunk = search.store.chunks_for_document(hr_doc.id)[0].id
    leaked = retriever._hydrate([(hr_chunk, 1.0)], [], [], SearchFilters(groups=("public",)))
    assert leaked == []


@pytest.mark.parametrize("method", ["convex", "rrf"])
def test_fusion_rewards_agreement(search: SearchService, method: str) -> None:
    retriever = search.retriever
    retriever.weights = FusionWeights({"fr": 1.0}, {"fr": 1.0}, 60, method)
    dense = [(1, 0.9), (2, 0.8), (3, 0.7)]
    lexical = [(3, 12.0), (4, 10.0), (1, 2.0)]
    if method == "rrf":
        fused = [cid for cid, _ in reciprocal_rank_fusion(dense, lexical, retriever.weights, "fr")]
        assert fused[:2] == [1, 3], "in both lists beats in one"
    else:
        search.store.embeddings  # noqa: B018 - real store, real embeddings for ids 1..4
        fused = [cid for cid, _ in retriever.fuse_scores("x", None, "fr", dense, lexical)]
        assert fused[0] in (1, 3) and set(fused) == {1, 2, 3, 4}


def test_weights_per_language_decide(search: SearchService) -> None:
    retriever = search.retriever
    dense = [(1, 0.9), (2, 0.1)]
    lexical = [(2, 10.0), (1, 1.0)]
    retriever.weights = FusionWeights({"fr": 0.0, "en": 1.0}, {"fr": 1.0, "en": 0.0}, 60, "rrf")
    assert reciprocal_rank_fusion(dense, lexical, retriever.weights, "fr")[0][0] == 2
    assert reciprocal_rank_fusion(dense, lexical, retriever.weights, "en")[0][0] == 1


def test_bad_requests(search: SearchService) -> None:
    with pytest.raises(RagError, match="empty"):
        search.search("  ")
    with pytest.raises(RagError, match="characters long"):
        search.search("mot " * 3000)
    with pytest.raises(RagError, match="k must be between"):
        search.search("congés", k=0)
    with pytest.raises(RagError, match="unknown search mode"):
        search.search("congés", mode="magic")


def test_empty_store_returns_nothing(tmp_path: Path) -> None:
    service = SearchService(Settings(data_dir=tmp_path), embedder=HashingEmbedder(32))
    assert service.search("congés").hits == []


def test_store_of_another_model_is_refused_with_a_hint(demo) -> None:
    other = SearchService(demo[0], embedder=HashingEmbedder(1024, name="other-model"))
    with pytest.raises(StoreMismatchError, match="RAG_EMBEDDING__MODEL"):
        other.search("congés")


def test_mmr_diversifies_near_duplicates(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    same = "Le télétravail est autorisé deux jours par semaine avec l'accord du manager."
    for i in range(3):
        (docs / f"copie{i}.md").write_text(f"# Copie {i}\n\n{same}\n")
    (docs / "autre.md").write_text("# Autre\n\nLe télétravail ouvre droit à une indemnité.\n")
    settings = Settings(data_dir=tmp_path / "data")
    IngestService(settings, embedder=HashingEmbedder(1024)).run(docs)
    search = SearchService(settings, embedder=HashingEmbedder(1024))
    plain = names(search.search("télétravail deux jours manager", k=2).hits)
    diverse = names(search.search("télétravail deux jours manager", k=2, mmr_lambda=0.3).hits)
    assert len(plain) == 2 and all(n.startswith("copie") for n in plain)
    assert "autre.md" in diverse
    with pytest.raises(RagError, match="mmr_lambda"):
        search.search("télétravail", mmr_lambda=2.0)


def test_a_document_replaced_during_a_search_does_not_vanish_from_it(tmp_path: Path) -> None:
    """A search reads BM25 hits, then embeddings, then chunk records. A re-ingest that
    commits between two of those reads must not make the document disappear from the
    results: the whole search sees one committed state (its old revision here)."""
    docs = tmp_path / "docs"
    docs.mkdir()
    page = docs / "note.md"
    page.write_text("# Note\n\nLe code canari est zebulon, version un.\n", encoding="utf-8")
    settings = Settings(data_dir=tmp_path / "data")
    IngestService(settings, embedder=HashingEmbedder(1024)).run(docs, ["public"])
    search = SearchService(settings, embedder=HashingEmbedder(1024))
    writer = IngestService(settings, embedder=HashingEmbedder(1024))
    bm25 = search.retriever.bm25

    def bm25_then_a_commit(*args, **kwargs):  # type: ignore[no-untyped-def]
        found = bm25(*args, **kwargs)
        page.write_text("# Note\n\nLe code canari est zebulon, version deux.\n", encoding="utf-8")
        writer.run(docs, ["public"])  # another connection commits the new revision
        return found

    search.retriever.bm25 = bm25_then_a_commit  # type: ignore[method-assign]
    hits = search.search("zebulon", k=3, mode="hybrid").hits
    assert hits and "version un" in hits[0].chunk.text
    search.retriever.bm25 = bm25  # type: ignore[method-assign]
    assert "version deux" in search.search("zebulon", k=3, mode="hybrid").hits[0].chunk.text
