# Two commands do everything on a fresh machine with Python 3.10+:
#   make test   - create .venv, install electra-cli with its test extras, run the test suite
#   make demo   - create .venv, install electra-cli, run the end-to-end demo
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: test demo install clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

test: install
	$(BIN)/python -m pytest -q

demo: install
	$(BIN)/electra-cli demo

clean:
	rm -rf $(VENV) build *.egg-info
