# Two commands do everything on a fresh machine with Python 3.10+:
#   make test   - create .venv, install electra-cli with its test extras, run the test suite
#   make demo   - create .venv, install electra-cli, run the end-to-end demo
# On a machine without a GPU add TORCH=cpu (make test TORCH=cpu): torch's CPU build from PyTorch's CPU index, a
# ~1.9 GB .venv instead of ~6.1 GB with the CUDA build that pip picks on Linux. Run `make clean` first to switch.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH ?=
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu

.PHONY: test demo install clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(if $(filter cpu,$(TORCH)),$(BIN)/python -m pip install --quiet torch --index-url $(TORCH_CPU_INDEX))
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

test: install
	$(BIN)/python -m pytest -q

demo: install
	$(BIN)/electra-cli demo

clean:
	rm -rf $(VENV) build *.egg-info
