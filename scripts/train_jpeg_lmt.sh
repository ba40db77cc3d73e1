#!/usr/bin/env bash
# Recipe of the Lipschitz-margin (LMT, Tsuzuku et al. 2018) models on the CIFAR-10 JPEG training set:
# a plain 4C2F conv net (no batch norm, no residuals: the sound bound stays close to the real constant),
# trained from scratch with the LMT loss at margin constant c, no noise, Adam lr 1e-3 for 20 epochs then
# 1e-4 for 10 (EPOCHS=40: 20 and 20), no weight decay. (In 2-3 epoch trials at c = 0.1-0.15, SGD at lr
# 0.01, 0.02 and 0.05 learned 3x slower than Adam.) One folder per (width, c), resumable; the sweep of
# width and c is the arguments:
#
#   scripts/train_jpeg_lmt.sh DATA_ROOT WIDTH:C[:EPOCHS:LR_STEP] [...]
#   e.g. scripts/train_jpeg_lmt.sh ../shared/data 16:0.05 16:0.1 32:0.1
#        EPOCHS=40 scripts/train_jpeg_lmt.sh ../shared/data 32:0.15
#        scripts/train_jpeg_lmt.sh ../shared/data 32:0.1:60:40   # folder w32-c0.1-e60
# (WIDTH:C trains EPOCHS epochs, default 30, lr x0.1 after 20, into w<WIDTH>-c<C>; WIDTH:C:EPOCHS:LR_STEP
# trains EPOCHS epochs, lr x0.1 after LR_STEP, into w<WIDTH>-c<C>-e<EPOCHS>.)
set -euo pipefail
data_root=$1
shift
here=$(dirname "$0")/../results/checkpoints/cifar10-jpeg-lmt
for config in "$@"; do
  IFS=: read -r width c epochs lr_step <<< "$config"
  folder="$here/w$width-c$c${epochs:+-e$epochs}"
  smoothbench train cifar10-jpeg "plain_cnn4c2f_w$width" "$folder" --lmt-c "$c" --noise_sd 0 \
    --data-root "$data_root" --epochs "${epochs:-${EPOCHS:-30}}" --optimizer adam --lr 0.001 \
    --lr_step_size "${lr_step:-20}" --weight-decay 0 --batch 128 --workers 1 --device "${DEVICE:-auto}" --resume
  # The committed model: the weights and recipe fields without Adam's state (checkpoint.pth.tar stays local).
  python -c "import sys; from smoothing.checkpoints import export_weights; export_weights(*sys.argv[1:])" \
    "$folder/checkpoint.pth.tar" "$folder/model.pth.tar"
done
