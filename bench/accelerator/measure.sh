#!/usr/bin/env bash
# The first accelerator run of issue 13, in one script (at most 8.3 minutes, the sum of the step limits;
# about 6 on an H100): the CUDA-only tests, throughput of ResNet-110 (CIFAR-10) and ResNet-50 (ImageNet) in
# fp32 and bf16, eager and compiled (channels_last for ResNet-50), peak GPU memory against n up to 100,000,
# and CERTIFY seconds per image at n = 100,000 beside the real reference implementation. Every step has its
# own time limit, so a slow step costs only itself; each writes its CSV under OUT after every measured part
# (a stopped step keeps what it measured), the output goes to log.txt, and status.tsv lists every step's
# exit status and seconds.
#
#   bench/accelerator/measure.sh OUT [--dry-run]
#   REFERENCE_CORE=gpu-carry/reference/core.py bench/accelerator/measure.sh "$OUT"
#
# REFERENCE_CORE (optional): a copy of locuslab/smoothing's code/core.py; its certify is timed when given.
# --dry-run: every step with tiny sizes on the CPU, to test this script before spending GPU time.
set -uo pipefail
out=${1:?usage: bench/accelerator/measure.sh OUT [--dry-run]}
mode=${2:-}
mkdir -p "$out"
source "$(dirname "$0")/install.sh"
if [ "$mode" = --dry-run ]; then
  device=cpu tag=dry-run compile=""
  cifar=(--batch 8 --n 16) imagenet=(--batch 2 --n 4) memory=(--batch 8 --memory 16 64) certify=(--n 32 --n0 8 --batch 16)
else
  device=cuda compile=--compile
  tag=$(python -c "import torch; print(torch.cuda.get_device_name(0).split()[1].lower())" 2>/dev/null || echo cuda)
  cifar=(--batch 2000 --n 20000) imagenet=(--batch 500 --n 2000) memory=(--batch 2000 --memory 1000 10000 50000 100000)
  certify=(--n 100000 --batch 2000)
fi
reference=()
[ -n "${REFERENCE_CORE:-}" ] && [ "$device" = cuda ] && reference=(--reference-core "$REFERENCE_CORE")
printf 'step\texit_status\tseconds\n' > "$out/status.tsv"
{  # the machine: GPU, driver, torch, and the CPU threads torch uses against those this process may run on
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  python -c "import os, torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'threads',
torch.get_num_threads(), 'of', len(os.sched_getaffinity(0)), 'usable cpus')"
} > "$out/machine.txt" 2>&1

step() {  # step NAME LIMIT_S COMMAND...: run under the time limit, log its output, record its exit status
  local name=$1 limit=$2 started=$SECONDS
  shift 2
  echo "== $name (limit ${limit} s): $*" | tee -a "$out/log.txt"
  timeout "$limit" "$@" >> "$out/log.txt" 2>&1
  local status=$?
  printf '%s\t%s\t%s\n' "$name" "$status" "$((SECONDS - started))" >> "$out/status.tsv"
  tail -n 15 "$out/log.txt"
}

step cuda-tests 75 python -m pytest tests/test_cuda.py -q -p no:cacheprovider -o addopts=-ra  # pytest-benchmark may be absent
step throughput-cifar10 120 smoothbench throughput --arch cifar_resnet110 --dataset cifar10 --precision fp32 bf16 \
  $compile "${cifar[@]}" --device "$device" --out "$out/samples_per_s_${tag}_cifar10.csv"
step throughput-imagenet 100 smoothbench throughput --arch resnet50 --dataset imagenet --precision fp32 bf16 \
  $compile --channels-last "${imagenet[@]}" --device "$device" --out "$out/samples_per_s_${tag}_imagenet.csv"
step peak-memory 35 smoothbench throughput --arch cifar_resnet110 --dataset cifar10 "${memory[@]}" --device "$device" \
  --out "$out/peak_memory_${tag}.csv"
step certify-seconds 170 smoothbench throughput --arch cifar_resnet110 --dataset cifar10 --certify-images 2 \
  --precision fp32 bf16 $compile "${certify[@]}" "${reference[@]}" --device "$device" \
  --out "$out/certify_seconds_${tag}_cifar10.csv"
cat "$out/status.tsv"
