from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bench.models import ModelSpec, register_model
from bench.suite import load_suite
from smoothing.architectures import create_architecture
from smoothing.checkpoints import save_checkpoint
from tests.helpers import SUITE, LinearTwoClass

SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture
def shared() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"developers' data folder {SHARED} is absent")
    return SHARED


@pytest.fixture(autouse=True)
def batch_size_cache(tmp_path_factory, monkeypatch) -> Path:
    """Tests never read or write the user's batch-size cache."""
    folder = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("SMOOTHBENCH_CACHE", str(folder))
    return folder / "batch_sizes.json"


@pytest.fixture
def linear_model() -> LinearTwoClass:
    """Images (1, 8, 8); w has entries +-1 and the boundary passes through the centre of the pixel cube,
    so points up to distance 4 from the boundary (8 sigma at sigma 0.5) are images in [0, 1]."""
    generator = torch.Generator().manual_seed(1)
    w = torch.randint(0, 2, (1, 8, 8), generator=generator).float() * 2 - 1
    return LinearTwoClass(w, b=-0.5 * w.sum().item())




@pytest.fixture
def suite(tmp_path):
    checkpoint = tmp_path / "model.pth.tar"
    save_checkpoint(checkpoint, create_architecture("cifar_resnet20", "cifar10"), "cifar_resnet20")
    name = f"test-tiny-{tmp_path.name}"  # one registry entry per test
    register_model(name)(lambda: ModelSpec(name, "cifar10", checkpoint, train_sigma=0.25))
    path = tmp_path / "tiny.toml"
    path.write_text(SUITE.replace("test-tiny-resnet20", name))
    return load_suite(str(path))


@pytest.fixture
def checkpoint(tmp_path):
    """A randomly initialised ResNet-20 saved as a checkpoint."""
    path = tmp_path / "model.pth.tar"
    save_checkpoint(path, create_architecture("cifar_resnet20", "cifar10"), "cifar_resnet20")
    return path


@pytest.fixture
def smoothed(linear_model):
    from smoothing.core import Smooth

    return Smooth(linear_model, 2, 0.5, input_shape=(1, 8, 8))


def pytest_collection_modifyitems(config, items) -> None:
    """Tests marked `cuda` check claims only a GPU can: skipped, with the reason, where there is none."""
    if torch.cuda.is_available():
        return
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(pytest.mark.skip(reason="needs a CUDA device"))
