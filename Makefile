# Two commands do all set-up on a fresh machine:
#   make demo   install everything, write a demo corpus and ingest it
#   make test   install everything and run the fast test suite
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed

.PHONY: install demo test test-slow lint typecheck bench-ingest clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	# CPU build of torch first: an unpinned torch pulled in by sentence-transformers
	# would be a multi-GB CUDA build.
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/rag demo --dir demo_docs
	$(VENV)/bin/rag documents list

test: $(STAMP)
	$(PY) -m pytest -q

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

lint: $(STAMP)
	$(VENV)/bin/ruff check rag ingest api eval tests bench
	$(VENV)/bin/ruff format --check rag ingest api eval tests bench

typecheck: $(STAMP)
	$(VENV)/bin/mypy

bench-ingest: $(STAMP)
	$(PY) bench/ingest_throughput.py --corpus ../shared/datasets/spf/corpus

clean:
	rm -rf $(VENV) rag_data demo_docs
