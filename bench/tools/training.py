"""The commands around training: `train` (a base classifier with Gaussian noise augmentation, or with the
Lipschitz-margin loss) and `evaluate` (accuracy of base classifiers, clean and under noise)."""
from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
import torch
from tabulate import tabulate

from baselines.lipschitz import LipschitzMarginLoss
from bench.commands import (
    add_image_flags,
    add_setting_flags,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    write_csv,
)
from bench.runner import selected_images
from smoothing.architectures import architecture_names, create_architecture
from smoothing.checkpoints import load_checkpoint
from smoothing.datasets import create_dataset, dataset_info, dataset_names, spread_subset
from smoothing.devices import resolve_device
from smoothing.training import TrainConfig, run_epoch, train_with_noise


def train_command(args: argparse.Namespace) -> None:
    config = TrainConfig(
        noise_sd=args.noise_sd, epochs=args.epochs, batch=args.batch, lr=args.lr, momentum=args.momentum,
        weight_decay=args.weight_decay, lr_step_size=args.lr_step_size, gamma=args.gamma, workers=args.workers,
        optimizer=args.optimizer, precision=args.precision, augment_on_device=args.augment_on_device,
    )
    train_set = create_dataset(args.dataset, "train", args.data_root)
    if args.train_images is not None:
        train_set = spread_subset(train_set, args.train_images)
    test_set = create_dataset(args.dataset, "test", args.data_root)
    if args.pretrained:
        model, _ = load_checkpoint(args.pretrained, args.dataset, args.arch)
    else:
        model = create_architecture(args.arch, args.dataset)
    criterion, fields = None, {"method": "gaussian_noise"}
    if args.lmt_c is not None:
        criterion = LipschitzMarginLoss(model, dataset_info(args.dataset).input_shape, args.lmt_c)
        fields = {"method": "lmt", "lmt_c": args.lmt_c}
    train_with_noise(
        model, args.arch, args.dataset, train_set, args.outdir, config, test_set=test_set,
        device=args.device, resume=args.resume, criterion=criterion, checkpoint_fields=fields,
    )

def evaluate_command(args: argparse.Namespace) -> None:
    device = resolve_device(args.device)
    dataset = create_dataset(args.dataset, args.split, args.data_root)
    data = torch.utils.data.Subset(dataset, [p for p, _ in selected_images(dataset, args.skip, args.max)])
    loader = torch.utils.data.DataLoader(data, batch_size=args.batch, shuffle=False)
    rows = []
    for path in args.checkpoints:
        model, _ = load_checkpoint(path, args.dataset, args.arch, device)
        for noise_sd in args.noise_sd:
            torch.manual_seed(args.seed)
            loss, accuracy = run_epoch(model, loader, noise_sd, device, description=f"{Path(path).parent.name} {noise_sd:g}")
            rows.append(dict(checkpoint=str(path), dataset=args.dataset, split=args.split, noise_sd=noise_sd,
                             images=len(data), accuracy=accuracy, loss=loss))
    frame = pd.DataFrame(rows)
    print(tabulate(frame, headers="keys", tablefmt="github", showindex=False, floatfmt=".4f"))
    if args.out:
        write_csv(frame, Path(args.out))


def add_commands(commands: argparse._SubParsersAction) -> None:
    train = commands.add_parser("train", help="train a base classifier with Gaussian noise augmentation")
    train.add_argument("dataset", choices=dataset_names())
    train.add_argument("arch", choices=architecture_names())
    train.add_argument("outdir", help="folder for checkpoint.pth.tar and log.tsv")
    train.add_argument("--noise_sd", "--noise-sd", type=non_negative_float, default=0.0, help="sigma of the training noise (0: none)")
    train.add_argument("--lmt-c", type=non_negative_float, help="Lipschitz-margin training (Tsuzuku et al. 2018) with this c")
    train.add_argument("--data-root")
    train.add_argument("--pretrained", help="start from this checkpoint's weights (fine-tuning)")
    train.add_argument("--epochs", type=positive_int, default=90)
    train.add_argument("--batch", type=positive_int, default=256)
    train.add_argument("--lr", type=positive_float, default=0.1)
    train.add_argument("--lr_step_size", "--lr-step-size", type=positive_int, default=30)
    train.add_argument("--gamma", type=positive_float, default=0.1)
    train.add_argument("--momentum", type=non_negative_float, default=0.9)
    train.add_argument("--optimizer", choices=["sgd", "adam"], default="sgd", help="sgd (the reference) or adam")
    train.add_argument("--precision", choices=["fp32", "bf16"], default="fp32", help="bf16: autocast (GPU training)")
    train.add_argument("--augment-on-device", action="store_true",
                       help="keep the decoded images on the device and crop/flip them there (fast on a GPU)")
    train.add_argument("--weight-decay", type=non_negative_float, default=1e-4)
    train.add_argument("--workers", type=non_negative_int, default=2)
    train.add_argument("--device", default="auto")
    train.add_argument("--resume", action="store_true", help="continue from outdir/checkpoint.pth.tar")
    train.add_argument("--train-images", type=positive_int, metavar="N",
                       help="train on N images spread evenly over the training set (quick checks)")
    train.set_defaults(handler=train_command)
    evaluate = commands.add_parser("evaluate", help="accuracy of base classifiers on a dataset, clean and under noise")
    evaluate.add_argument("checkpoints", nargs="+")
    add_image_flags(evaluate)
    evaluate.add_argument("--noise-sd", type=non_negative_float, nargs="+", default=[0.0], help="noise levels (0: clean)")
    add_setting_flags(evaluate, ["batch", "seed"])
    evaluate.add_argument("--device", default="auto")
    evaluate.add_argument("--out", help="write the rows to this CSV file")
    evaluate.set_defaults(handler=evaluate_command)
