# The two set-up commands a newcomer needs: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test bench clean catalogue

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/veille demo

test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest

bench: $(VENV)/.installed-dev
	$(BIN)/python bench/collect.py

# Regenerate the catalogue's template from the code and merge it into each language (see README, "Translations").
KEYWORDS := -k tx -k tx_in:2 -k tx_n:1,2 -k tx_n_in:2,3 -k tx_p:1c,2 -k tx_p_in:2c,3 -k NC_:1c,2 -k say
catalogue: $(VENV)/.installed
	$(BIN)/pybabel extract -F babel.cfg $(KEYWORDS) --add-location=file --sort-output -w 118 \
		--project=veille -o watch/locale/messages.pot .
	$(BIN)/pybabel update -i watch/locale/messages.pot -d watch/locale --no-fuzzy-matching --ignore-obsolete -w 118 --ignore-pot-creation-date

clean:
	rm -rf $(VENV) data .pytest_cache
