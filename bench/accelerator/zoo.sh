#!/usr/bin/env bash
# The second accelerator run of issue 13: the paper-size zoo. ResNet-110 trained from scratch with Gaussian
# noise at each sigma on the complete CIFAR-10 JPEG training set (train.npz, decoded once and augmented on
# the GPU, bf16 autocast, SGD lr 0.1 divided by 10 at 1/3 and 2/3 of the epochs), its weights exported
# (no optimizer state) and certified on the paper's test indices (every 20th: 500 images) at n = N.
# The sigmas run side by side (one process each: one ResNet-110 leaves most of the GPU idle).
# Resumable: rerun the same command.
#
#   bench/accelerator/zoo.sh OUT DATA_ROOT [--dry-run]
#   EPOCHS=30 N=10000 SIGMAS="0.12 0.25 0.50 1.00" bench/accelerator/zoo.sh "$OUT" gpu-carry/data
#   TRAIN_SECONDS=240 ...: first time one epoch of all sigmas side by side on PROBE_IMAGES images, then train
#   as many epochs (at most EPOCHS) as fit in TRAIN_SECONDS; the choice is kept in OUT/epochs for a resume.
#
# DATA_ROOT holds cifar10-train-jpeg/train.npz and the test tree (cifar10-test-jpeg/test/...).
# --dry-run: a ResNet-20 for one epoch on 512 training images and 2 test images, on the CPU.
set -uo pipefail
out=${1:?usage: bench/accelerator/zoo.sh OUT DATA_ROOT [--dry-run]}
data=${2:?usage: bench/accelerator/zoo.sh OUT DATA_ROOT [--dry-run]}
mode=${3:-}
source "$(dirname "$0")/install.sh"
epochs=${EPOCHS:-30} n=${N:-10000} sigmas=${SIGMAS:-0.12 0.25 0.50 1.00}
train_seconds=${TRAIN_SECONDS:-} probe_images=${PROBE_IMAGES:-15360} training_images=50000
if [ "$mode" = --dry-run ]; then
  device=cpu arch=cifar_resnet20 epochs=${EPOCHS:-1} n=100 extra=(--train-images 512) select=(--max 40)
  fast=(--batch 100) probe_images=${PROBE_IMAGES:-256} training_images=512
else
  device=cuda arch=cifar_resnet110 extra=() select=() fast=(--batch 4000 --precision bf16 --compile)
fi
train() {  # sigma folder epochs [extra flags]
  smoothbench train cifar10-jpeg "$arch" "$2" --noise_sd "$1" --data-root "$data" --epochs "$3" --lr 0.1 \
    --lr_step_size $(( ($3 + 2) / 3 )) --batch 256 --precision bf16 --augment-on-device --workers 2 \
    --device "$device" --resume "${@:4}"
}
mkdir -p "$out/zoo" "$out/weights" "$out/certify" "$out/logs"
if [ -n "$train_seconds" ] && [ ! -s "$out/epochs" ]; then
  for sigma in $sigmas; do
    train "$sigma" "$out/probe/noise$sigma" 1 --train-images "$probe_images" > "$out/logs/probe-noise$sigma.log" 2>&1 &
  done
  wait
  # seconds of the slowest probe epoch (the `seconds` column of log.tsv), scaled to the whole training set
  cat "$out"/probe/noise*/log.tsv | awk -F'\t' -v budget="$train_seconds" -v most="$epochs" \
    -v total="$training_images" -v probed="$probe_images" '
    $1 != "epoch" && $2 > slowest { slowest = $2 }
    END { if (!slowest) exit 1; whole = slowest * total / probed
          fit = int(budget / whole); if (fit > most) fit = most; if (fit < 1) fit = 1
          printf "zoo probe: %.1f s per epoch, all sigmas side by side -> %d epochs\n", whole, fit > "/dev/stderr"
          print fit }' > "$out/epochs" || { echo "zoo: the probe trained nothing; see $out/logs/probe-*.log" >&2; exit 1; }
fi
[ -s "$out/epochs" ] && epochs=$(cat "$out/epochs")
echo "zoo: $arch, $epochs epochs, sigmas $sigmas, certify n = $n on $device"
for sigma in $sigmas; do
  name=${arch#cifar_}-noise$sigma
  (
    train "$sigma" "$out/zoo/$name" "$epochs" "${extra[@]}" &&
    python -c 'import sys; from smoothing.checkpoints import export_weights; export_weights(*sys.argv[1:])' \
      "$out/zoo/$name/checkpoint.pth.tar" "$out/weights/$name.pth.tar" &&
    cp "$out/zoo/$name/log.tsv" "$out/logs/$name-train.tsv" &&
    smoothbench certify cifar10-jpeg "$out/weights/$name.pth.tar" "$sigma" "$out/certify/${name}_n$n.tsv" \
      --data-root "$data" --skip 20 "${select[@]}" --N0 100 --N "$n" --seed 0 --device "$device" "${fast[@]}"
  ) > "$out/logs/$name.log" 2>&1 &
done
wait
for sigma in $sigmas; do echo "== sigma $sigma"; tail -n 4 "$out/logs/${arch#cifar_}-noise$sigma.log"; done
