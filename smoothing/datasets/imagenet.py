"""ImageNet through an ImageFolder tree (`<root>/train/<wnid>/...`, `<root>/val/<wnid>/...`), as the
reference reads it from IMAGENET_DIR. Test images: resize 256, centre crop 224."""
from __future__ import annotations

import os

from torchvision import datasets, transforms

from smoothing.datasets import IMAGENET_INFO, DataNotFoundError, open_rgb, register_dataset, resolve_root

SPLIT_FOLDERS = {"train": "train", "test": "val"}


@register_dataset("imagenet")
class ImageNet(datasets.ImageFolder):
    info = IMAGENET_INFO

    def __init__(self, split: str = "test", root: str | os.PathLike | None = None):
        folder = resolve_root("imagenet", root, self.info) / SPLIT_FOLDERS[split]
        if not folder.is_dir():
            raise DataNotFoundError(
                f"ImageNet {split} folder not found: {folder}. Point --data-root or IMAGENET_DIR at the folder "
                "holding train/ and val/, with val/ sorted into one sub-folder per class (wnid)"
            )
        if split == "train":
            transform = transforms.Compose(
                [transforms.RandomResizedCrop(224), transforms.RandomHorizontalFlip(), transforms.ToTensor()]
            )
        else:
            transform = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor()])
        super().__init__(str(folder), transform, loader=open_rgb)
        if len(self.classes) != self.info.num_classes:
            raise DataNotFoundError(
                f"ImageNet {split} folder {folder} has {len(self.classes)} class folders, expected "
                f"{self.info.num_classes}; is it the ILSVRC-2012 tree?"
            )
