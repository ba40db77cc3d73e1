"""Recipe of the shipped demo model: Idelbayev's clean ResNet-20 fine-tuned with Gaussian noise.

No lossless CIFAR-10 training set is available offline, so the model is fine-tuned on the JPEG copy of
the CIFAR-10 *test* images with official indices 1000..9999 only; the embedded subset that the demo
certifies (indices 0..499) is never seen. Needs the developers' ../shared folder:

    .venv/bin/python scripts/train_demo.py ../shared
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from torch.utils.data import Subset
from torchvision import datasets, transforms

from smoothing.checkpoints import load_checkpoint
from smoothing.datasets import create_dataset
from smoothing.datasets.embedded import read_test_prefix
from smoothing.training import TrainConfig, train_with_noise

HELD_OUT = 1000  # official test indices 0..HELD_OUT-1 are never trained on
OUT = Path(__file__).resolve().parents[1] / "results" / "checkpoints" / "cifar10-demo"


def main(shared: Path) -> None:
    _, labels = read_test_prefix(shared / "data/cifar10-test-prefix/test_batch.prefix")
    # File k of class c in the JPEG tree is the k-th test image of class c (its README); skip those
    # whose official index is below HELD_OUT.
    held_out_per_class = np.bincount(labels[:HELD_OUT], minlength=10)
    augment = transforms.Compose(
        [transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip(), transforms.ToTensor()]
    )
    tree = datasets.ImageFolder(str(shared / "data/cifar10-test-jpeg/test"), augment)
    keep = [i for i, (path, c) in enumerate(tree.samples) if int(Path(path).stem) >= held_out_per_class[c]]
    model, _ = load_checkpoint(
        shared / "models/pytorch_resnet_cifar10/pretrained_models/resnet20-12fca82f.th",
        "cifar10", arch="idelbayev_resnet20",
    )
    config = TrainConfig(noise_sd=0.25, epochs=24, batch=128, lr=0.02, lr_step_size=16, workers=1)
    train_with_noise(
        model, "idelbayev_resnet20", "cifar10", Subset(tree, keep), OUT, config,
        test_set=create_dataset("cifar10-embedded"), device="cpu", resume=True,
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]))
