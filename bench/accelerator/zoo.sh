#!/usr/bin/env bash
# The second accelerator run of issue 13: the paper-size zoo. ResNet-110 trained from scratch with Gaussian
# noise at each sigma on the complete CIFAR-10 JPEG training set (train.npz, decoded once and augmented on
# the GPU, bf16 autocast, SGD lr 0.1 divided by 10 at 1/3 and 2/3 of the epochs), then certified on the
# paper's test indices (every 20th: 500 images) at n = N. Resumable: rerun the same command.
#
#   bench/accelerator/zoo.sh OUT DATA_ROOT [--dry-run]
#   EPOCHS=30 N=10000 SIGMAS="0.12 0.25 0.50 1.00" bench/accelerator/zoo.sh "$OUT" gpu-carry/data
#
# DATA_ROOT holds cifar10-train-jpeg/train.npz and the test tree (cifar10-test-jpeg/test/...).
# --dry-run: a ResNet-20 for one epoch on 512 training images and 2 test images, on the CPU.
set -uo pipefail
out=${1:?usage: bench/accelerator/zoo.sh OUT DATA_ROOT [--dry-run]}
data=${2:?usage: bench/accelerator/zoo.sh OUT DATA_ROOT [--dry-run]}
mode=${3:-}
source "$(dirname "$0")/install.sh"
epochs=${EPOCHS:-30} n=${N:-10000} sigmas=${SIGMAS:-0.12 0.25 0.50 1.00}
if [ "$mode" = --dry-run ]; then
  device=cpu arch=cifar_resnet20 epochs=1 n=100 extra=(--train-images 512) select=(--max 40) fast=(--batch 100)
else
  device=cuda arch=cifar_resnet110 extra=() select=() fast=(--batch 4000 --precision bf16 --compile)
fi
mkdir -p "$out/zoo" "$out/certify"
for sigma in $sigmas; do
  smoothbench train cifar10-jpeg "$arch" "$out/zoo/resnet110-noise$sigma" --noise_sd "$sigma" --data-root "$data" \
    --epochs "$epochs" --lr 0.1 --lr_step_size $(( (epochs + 2) / 3 )) --batch 256 --precision bf16 \
    --augment-on-device --workers 2 --device "$device" --resume "${extra[@]}" 2>&1 | tail -n 3
  smoothbench certify cifar10-jpeg "$out/zoo/resnet110-noise$sigma/checkpoint.pth.tar" "$sigma" \
    "$out/certify/resnet110-noise${sigma}_n$n.tsv" --data-root "$data" --skip 20 "${select[@]}" --N0 100 --N "$n" \
    --seed 0 --device "$device" "${fast[@]}" 2>&1 | tail -n 8
done
