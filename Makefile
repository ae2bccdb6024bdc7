# Two commands do all set-up on a fresh machine:
#   make serve  install everything (with the embedded LLM), write and ingest a demo
#               corpus, and run the web API and page on http://127.0.0.1:8000/
#   make test   install what the tests need and run the fast test suite
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
LLM_STAMP := $(VENV)/.installed-llm
LLAMA_CMAKE_ARGS := -DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
	-DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_CURL=OFF
# llama.cpp builds for this CPU (-march=native); on a CPU with AMX (Intel Sapphire Rapids
# and later) that compiles ggml's AMX kernels, which crash (SIGSEGV in
# ggml_backend_amx_mul_mat) on the first prompt with this Q4_K_M model: llama.cpp issue
# 20824, seen here on 2026-12-01. GCC lets an explicit -mno-* win over -march=native, so
# these keep every other native instruction set and leave AMX out. x86_64 only: other
# architectures' compilers do not know the flags.
LLAMA_CFLAGS := $(if $(filter x86_64,$(shell uname -m)),-mno-amx-tile -mno-amx-int8 -mno-amx-bf16)

.PHONY: compose-tool install demo serve browser test test-slow test-soak eval-ci calibrate lint typecheck bench-ingest bench-retrieval bench-api clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	# CPU build of torch first: an unpinned torch pulled in by sentence-transformers
	# would be a multi-GB CUDA build.
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[dev]'
	touch $(STAMP)

$(LLM_STAMP): $(STAMP)
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CFLAGS="$(LLAMA_CFLAGS)" CXXFLAGS="$(LLAMA_CFLAGS)" \
		$(PIP) install -q -e '.[dev,llm]'
	touch $(LLM_STAMP)

install: $(LLM_STAMP)

demo: $(LLM_STAMP)
	$(VENV)/bin/rag demo --dir demo_docs
	$(VENV)/bin/rag documents list
	$(VENV)/bin/rag ask "Combien de jours de congé pour un mariage ?"

serve: $(LLM_STAMP)
	$(VENV)/bin/rag demo --dir demo_docs
	$(VENV)/bin/rag serve

# The browser test drives Debian's chromium; without it that one test is skipped.
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver \
	    >/dev/null; } || echo "chromium not installed: the browser test will be skipped"

# Debian's Compose plugin (the Go `docker compose`), for the test that runs
# `docker compose config` on docker-compose.yml; no Docker engine is needed for that.
# Debian ships it as the package docker-compose from trixie on (bookworm's docker-compose
# is Compose v1.29, in Python, not this plugin; docker-compose-plugin is the name in
# Docker's own repository, not in Debian's). `apt-get download` fetches it,
# without root, from the Debian archive this machine's apt already uses, with trixie's
# suite in a package list private to .tools/apt; apt checks it against the archive's
# signed index and the checksum pins the build. Without it that one test is skipped,
# saying why.
COMPOSE_VERSION := 2.26.1-4
COMPOSE_SUITE := trixie
COMPOSE_SHA256 := 47681197cb2b1ab88206b42a1a92fc75f50d9530a6322d03494a473eed0408ea
COMPOSE_APT = -o Dir::Etc::SourceList=$(CURDIR)/.tools/apt/sources.list \
	-o Dir::Etc::SourceParts=$(CURDIR)/.tools/apt/parts \
	-o Dir::State::Lists=$(CURDIR)/.tools/apt/lists \
	-o Dir::Cache=$(CURDIR)/.tools/apt/cache -o APT::Sandbox::User=$$(id -un)
compose-tool:
	@command -v docker-compose >/dev/null || docker compose version >/dev/null 2>&1 || \
	  [ -x .tools/docker-compose ] || { rm -rf .tools/apt && \
	  mkdir -p .tools/apt/parts .tools/apt/lists/partial .tools/apt/cache/archives/partial && \
	  mirror=$$(apt-get indextargets --format '$$(RELEASE) $$(REPO_URI)' \
	    'Identifier: Packages' 'Component: main' | \
	    awk '$$1 !~ /-/ && $$2 ~ /\/debian\/$$/ { print $$2; exit }') && \
	  [ -n "$$mirror" ] && \
	  keyring=/usr/share/keyrings/debian-archive-keyring.gpg && \
	  echo "deb [signed-by=$$keyring] $$mirror $(COMPOSE_SUITE) main" > .tools/apt/sources.list && \
	  apt-get -qq $(COMPOSE_APT) update && \
	  (cd .tools/apt && apt-get -qq $(COMPOSE_APT) download docker-compose=$(COMPOSE_VERSION)) && \
	  echo "$(COMPOSE_SHA256)  $$(echo .tools/apt/docker-compose_*.deb)" | sha256sum -c --quiet && \
	  dpkg-deb --fsys-tarfile .tools/apt/docker-compose_*.deb | \
	    tar -xO ./usr/libexec/docker/cli-plugins/docker-compose > .tools/apt/docker-compose && \
	  chmod +x .tools/apt/docker-compose && mv .tools/apt/docker-compose .tools/; } || \
	  echo "docker compose not available: the compose validation test will be skipped"; \
	  rm -rf .tools/apt

test: $(STAMP) compose-tool
	$(PY) -m pytest -q

test-slow: $(LLM_STAMP)
	$(PY) -m pytest -q -m slow

# The long attack runs (docs/reliability.md): access matrix, concurrency, load, crash
# trials, hostile files, fuzzing; no models needed, minutes on 2 cores.
test-soak: $(STAMP)
	$(PY) -m pytest -q -s -m soak

# The CI evaluation: 10 spf + 10 clapnq questions judged, 10 of each eval/sets/ set unjudged,
# gated by eval/baselines/ci.json (reports in reports/ci/).
eval-ci: $(LLM_STAMP)
	.ci/eval

# Faithfulness calibration on HaluEval (docs/evaluation.md quotes its figures).
calibrate: $(LLM_STAMP)
	$(VENV)/bin/rag eval calibrate --pairs ../shared/datasets/halueval/pairs.jsonl \
	  --out reports/calibration.json

lint: $(STAMP)
	$(VENV)/bin/ruff check rag ingest api eval tests bench
	$(VENV)/bin/ruff format --check rag ingest api eval tests bench

typecheck: $(STAMP)
	$(VENV)/bin/mypy

bench-ingest: $(STAMP)
	$(PY) bench/ingest_throughput.py --corpus ../shared/datasets/spf/corpus

bench-api: $(LLM_STAMP)
	$(PY) bench/api_load.py --data-dir bench/stores/spf --dataset ../shared/datasets/spf

bench-retrieval: $(STAMP)
	$(PY) bench/retrieval_quality.py --dataset ../shared/datasets/spf --data-dir bench/stores/spf
	$(PY) bench/retrieval_quality.py --dataset ../shared/datasets/clapnq --data-dir bench/stores/clapnq

clean:
	rm -rf $(VENV) rag_data demo_docs
