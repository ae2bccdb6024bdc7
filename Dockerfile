# The service image: CPU PyTorch, the embedded models, non-root, data on a volume.
FROM python:3.11-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends build-essential cmake \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY rag rag
COPY ingest ingest
COPY api api
COPY eval eval
ENV CMAKE_ARGS="-DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_CURL=OFF"
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --index-url https://download.pytorch.org/whl/cpu torch \
    && /opt/venv/bin/pip install --no-cache-dir '.[llm]'

FROM python:3.11-slim
RUN useradd --create-home --uid 1000 rag && mkdir /data && chown rag /data
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    HF_HUB_OFFLINE=1 \
    RAG_DATA_DIR=/data/store \
    RAG_MODEL_CACHE_DIR=/data/models
USER rag
VOLUME ["/data"]
HEALTHCHECK CMD rag documents list --json > /dev/null || exit 1
ENTRYPOINT ["rag"]
CMD ["--help"]
