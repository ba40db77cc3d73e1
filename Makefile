# Two commands on a fresh machine: `make demo` (certify embedded CIFAR-10 images) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_OUT := results/demo

$(BIN)/smoothbench: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

.PHONY: install demo test benchmark
install: $(BIN)/smoothbench

demo: install
	$(BIN)/smoothbench certify cifar10-embedded results/checkpoints/cifar10-demo/checkpoint.pth.tar 0.25 \
		$(DEMO_OUT)/certify_cifar10-embedded_sigma0.25.tsv --skip 50 --N0 100 --N 10000 --batch 500 --seed 0

test: install
	$(BIN)/python -m pytest

benchmark: install
	$(BIN)/python -m pytest bench --benchmark-enable --benchmark-columns=mean,stddev,rounds
