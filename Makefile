# Two commands on a fresh machine: `make demo` (certify embedded CIFAR-10 images) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_OUT := results/demo

$(BIN)/smoothbench: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

.PHONY: install demo test benchmark benchmark-gpu browser
install: $(BIN)/smoothbench

demo: install
	$(BIN)/smoothbench certify cifar10-embedded results/checkpoints/cifar10-jpeg-zoo/resnet20-noise0.25/checkpoint.pth.tar \
		0.25 $(DEMO_OUT)/certify_cifar10-embedded_sigma0.25.tsv --skip 50 --N0 100 --N 10000 --batch 500 --seed 0

test: install
	$(BIN)/python -m pytest

# A headless browser for the site's test (tests/bench/report/test_site.py skips without one): Debian's chromium.
browser:
	apt-get update && apt-get install -y chromium

benchmark: install
	$(BIN)/python -m pytest tests/benchmarks --benchmark-enable --benchmark-columns=mean,stddev,rounds

# The GPU measurement of issue 13 (CUDA tests, throughput of ResNet-110 and ResNet-50 in fp32 and bf16, eager and
# compiled, peak memory, CERTIFY seconds beside the reference): bench/accelerator/measure.sh, its CSVs named after
# the GPU in GPU_OUT, to be copied into results/throughput/. REFERENCE_CORE: a copy of locuslab/smoothing's core.py.
GPU_OUT ?= gpu-measure
benchmark-gpu: install
	PATH=$(BIN):$$PATH REFERENCE_CORE=$(REFERENCE_CORE) bench/accelerator/measure.sh $(GPU_OUT)
