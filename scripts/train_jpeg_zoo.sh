#!/usr/bin/env bash
# Recipe of the CIFAR-10 JPEG zoo: Y. Idelbayev's clean ResNet-20 (trained on the exact CIFAR-10 training
# set, never on test images) fine-tuned with Gaussian noise augmentation at each sigma, on all 50,000
# JPEG training images (cifar10-jpeg, train split), 15 epochs, lr 0.02 then 0.002 after epoch 10.
# Resumable: rerun the same command after a kill. Device-independent (--device auto).
#
#   scripts/train_jpeg_zoo.sh DATA_ROOT PRETRAINED_RESNET20 [SIGMA ...]
#   e.g. scripts/train_jpeg_zoo.sh ../shared/data \
#        ../shared/models/pytorch_resnet_cifar10/pretrained_models/resnet20-12fca82f.th
set -euo pipefail
data_root=$1 pretrained=$2
shift 2
here=$(dirname "$0")/../results/checkpoints/cifar10-jpeg-zoo
for sigma in "${@:-0.25 0.50 0.12 1.00}"; do
  for s in $sigma; do
    smoothbench train cifar10-jpeg idelbayev_resnet20 "$here/resnet20-noise$s" --noise_sd "$s" \
      --pretrained "$pretrained" --data-root "$data_root" --epochs 15 --lr 0.02 --lr_step_size 10 \
      --batch 128 --workers 1 --device "${DEVICE:-auto}" --resume
  done
done
