# Two commands on a fresh machine: `make demo` (certify embedded CIFAR-10 images) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_OUT := results/demo

$(BIN)/smoothbench: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

.PHONY: install demo test benchmark benchmark-gpu
install: $(BIN)/smoothbench

demo: install
	$(BIN)/smoothbench certify cifar10-embedded results/checkpoints/cifar10-jpeg-zoo/resnet20-noise0.25/checkpoint.pth.tar \
		0.25 $(DEMO_OUT)/certify_cifar10-embedded_sigma0.25.tsv --skip 50 --N0 100 --N 10000 --batch 500 --seed 0

test: install
	$(BIN)/python -m pytest

benchmark: install
	$(BIN)/python -m pytest bench --benchmark-enable --benchmark-columns=mean,stddev,rounds

# The GPU targets of the throughput benchmark (ResNet-110 on CIFAR-10, ResNet-50 on ImageNet, fp32 and bf16,
# eager and compiled); commit the CSVs, named after the GPU, with this command.
GPU_TAG ?= cuda
benchmark-gpu: install
	$(BIN)/smoothbench throughput --arch cifar_resnet110 --dataset cifar10 --precision fp32 bf16 --compile \
		--batch 2000 --n 40000 --device cuda --out results/throughput/samples_per_s_$(GPU_TAG)_cifar10.csv
	$(BIN)/smoothbench throughput --arch resnet50 --dataset imagenet --precision fp32 bf16 --compile --channels-last \
		--batch 500 --n 10000 --device cuda --out results/throughput/samples_per_s_$(GPU_TAG)_imagenet.csv
