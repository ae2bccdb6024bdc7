from __future__ import annotations

import os
from pathlib import Path

import pytest

from rag.settings import IngestSettings, Settings, get_settings
from tests.fakes import HashingEmbedder

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _find_datasets() -> Path:
    """The shared data sets: $RAG_DATASETS, next to the checkout, or the workspace's copy
    (CI runs on a clone elsewhere). The same places as .ci/eval."""
    candidates = [
        os.environ.get("RAG_DATASETS", ""),
        Path(__file__).resolve().parents[1].parent / "shared" / "datasets",
        "/work/shared/datasets",
    ]
    for candidate in candidates:
        if candidate and (Path(candidate) / "spf").is_dir():
            return Path(candidate)
    return Path(candidates[1])


DATASETS = _find_datasets()


@pytest.fixture(autouse=True)
def _fresh_entry_point_settings() -> None:
    """Commands read settings once per process (`get_settings` is cached); each test's
    environment (monkeypatched RAG_* variables) must be read afresh."""
    get_settings.cache_clear()


@pytest.fixture(autouse=True)
def _test_multilingual_encoder(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Outside `slow` tests, the answer service's multilingual encoder is the small
    deterministic one of tests/fakes.py: the real one takes seconds to load."""
    if request.node.get_closest_marker("slow") is None:
        from tests.fakes import BilingualEncoder

        monkeypatch.setattr(
            "rag.answer.service.create_multilingual",
            lambda name: BilingualEncoder() if name else None,
        )


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        model_cache_dir=tmp_path / "models",
        ingest=IngestSettings(parse_timeout_s=60, embed_window=64),
    )


@pytest.fixture
def embedder() -> HashingEmbedder:
    return HashingEmbedder(dimension=32)


@pytest.fixture
def datasets() -> Path:
    if not DATASETS.is_dir():
        pytest.skip(f"shared data sets not found at {DATASETS}")
    return DATASETS
