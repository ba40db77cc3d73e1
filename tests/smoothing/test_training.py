"""Training with Gaussian noise (smoothing.training): checkpoints, resume, divergence, on-device batches."""
import pytest
import torch
from torch.utils.data import TensorDataset

from smoothing.architectures import create_architecture
from smoothing.checkpoints import load_checkpoint, read_checkpoint
from smoothing.training import TrainConfig, train_with_noise


def tiny_data(count=48, seed=0):
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(count) % 2
    images = (labels[:, None, None, None].float() * 0.6 + 0.2).expand(count, 3, 32, 32).clone()
    return TensorDataset(images + 0.05 * torch.randn(images.shape, generator=generator), labels)


def test_trains_checkpoints_and_resumes(tmp_path):
    config = TrainConfig(noise_sd=0.1, epochs=2, batch=16, lr=0.05, lr_step_size=1, workers=0)
    model = create_architecture("cifar_resnet20", "cifar10")
    log = train_with_noise(model, "cifar_resnet20", "cifar10", tiny_data(), tmp_path, config,
                           test_set=tiny_data(seed=1), device="cpu")
    assert [row["epoch"] for row in log] == ["1", "2"]
    assert float(log[1]["lr"]) == pytest.approx(0.005) # StepLR: x0.1 after each epoch
    checkpoint = read_checkpoint(tmp_path / "checkpoint.pth.tar")
    assert checkpoint["epoch"] == 2 and checkpoint["noise_sd"] == 0.1 and checkpoint["arch"] == "cifar_resnet20"
    loaded, _ = load_checkpoint(tmp_path / "checkpoint.pth.tar", "cifar10")
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model.eval()(x))

    longer = TrainConfig(noise_sd=0.1, epochs=3, batch=16, lr=0.05, lr_step_size=1, workers=0)
    resumed = train_with_noise(create_architecture("cifar_resnet20", "cifar10"), "cifar_resnet20", "cifar10",
                               tiny_data(), tmp_path, longer, device="cpu", resume=True)
    assert [row["epoch"] for row in resumed] == ["1", "2", "3"]
    assert resumed[:2] == log  # finished epochs are kept, not redone
    assert float(resumed[2]["lr"]) == pytest.approx(0.0005)
    assert read_checkpoint(tmp_path / "checkpoint.pth.tar")["epoch"] == 3


def test_noise_reaches_the_model(tmp_path):
    seen = []

    class Recorder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(3 * 32 * 32, 2)

        def forward(self, x):
            seen.append(x.detach().clone())
            return self.linear(x.flatten(1))

    data = tiny_data(8)
    train_with_noise(Recorder(), "recorder", "cifar10", data, tmp_path, TrainConfig(noise_sd=0.5, epochs=1, batch=8, workers=0), device="cpu")
    assert abs((seen[0] - data.tensors[0][torch.argsort(seen[0].mean(dim=(1, 2, 3)))]).std().item()) > 0.3


@pytest.mark.parametrize("field,value,message", [
    ("lr", float("nan"), "--lr must be a positive number, got nan"),
    ("lr", 0.0, "--lr must be a positive number"),
    ("noise_sd", float("inf"), "--noise_sd must be a number >= 0"),
    ("weight_decay", -1.0, "--weight-decay must be a number >= 0"),
    ("epochs", 0, "--epochs must be a positive integer"),
    ("optimizer", "rmsprop", "--optimizer must be one of sgd, adam"),
])
def test_bad_training_settings(field, value, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**{"noise_sd": 0.1, field: value})


def test_a_diverging_run_stops_without_saving_a_nan_checkpoint(tmp_path):
    """A loss that turns NaN (here: a learning rate of 1e30) stops training; the last good checkpoint stays."""
    from smoothing.training import TrainingDiverged

    model = create_architecture("cifar_resnet20", "cifar10")
    good = TrainConfig(noise_sd=0.1, epochs=1, batch=16, lr=0.01, workers=0)
    train_with_noise(model, "cifar_resnet20", "cifar10", tiny_data(), tmp_path, good, device="cpu")
    before = (tmp_path / "checkpoint.pth.tar").read_bytes()
    diverging = TrainConfig(noise_sd=0.1, epochs=3, batch=16, lr=1e30, workers=0)
    with pytest.raises(TrainingDiverged, match="no longer finite|the loss became nan"):
        train_with_noise(model, "cifar_resnet20", "cifar10", tiny_data(), tmp_path, diverging, device="cpu")
    assert (tmp_path / "checkpoint.pth.tar").read_bytes() == before
    assert all(torch.isfinite(v).all() for v in read_checkpoint(tmp_path / "checkpoint.pth.tar")["state_dict"].values()
               if v.is_floating_point())


def test_adam_trains_and_is_recorded(tmp_path):
    config = TrainConfig(noise_sd=0.1, epochs=1, batch=16, lr=1e-3, optimizer="adam", workers=0)
    model = create_architecture("cifar_resnet20", "cifar10")
    before = [p.detach().clone() for p in model.parameters()]
    train_with_noise(model, "cifar_resnet20", "cifar10", tiny_data(), tmp_path, config, device="cpu")
    checkpoint = read_checkpoint(tmp_path / "checkpoint.pth.tar")
    assert checkpoint["config"]["optimizer"] == "adam" and "exp_avg" in str(checkpoint["optimizer"]["state"][0].keys())
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_device_batches_crop_flip_and_keep_labels():
    """On-device augmentation: every image once per epoch, with its label, padded-and-cropped and
    sometimes flipped, pixels in [0, 1]."""
    import numpy as np

    from smoothing.datasets.cifar10 import ImageArrayDataset
    from smoothing.training import DeviceBatches

    count = 64
    images = np.zeros((count, 32, 32, 3), np.uint8)
    images[:, :, :16] = np.arange(count, dtype=np.uint8)[:, None, None, None] * 3 + 1  # left half marks the image
    data = ImageArrayDataset(images, np.arange(count) % 10, np.arange(count))
    batches = list(DeviceBatches(data, 24, torch.device("cpu")))
    assert [len(b[1]) for b in batches] == [24, 24, 16]
    seen = []
    flipped = cropped = 0
    for inputs, labels in batches:
        assert inputs.shape[1:] == (3, 32, 32) and inputs.dtype == torch.float32
        assert 0 <= inputs.min() and inputs.max() <= 1
        for x, label in zip(inputs, labels):
            mark = round(x.max().item() * 255)
            image = (mark - 1) // 3
            assert label.item() == image % 10
            seen.append(image)
            left, right = x[0, 16, :8].max().item(), x[0, 16, -8:].max().item()
            flipped += right > left
            cropped += bool((x[0, 0] == 0).all() or (x[0, -1] == 0).all())
    assert sorted(seen) == list(range(count))
    assert 10 < flipped < 54 and cropped > 10


def test_bf16_training_on_device_batches(tmp_path):
    from smoothing.datasets.cifar10 import ImageArrayDataset

    rng = __import__("numpy").random.default_rng(0)
    data = ImageArrayDataset(rng.integers(0, 256, (32, 32, 32, 3), dtype="uint8"), rng.integers(0, 10, 32),
                             __import__("numpy").arange(32))
    config = TrainConfig(noise_sd=0.1, epochs=1, batch=16, lr=0.01, workers=0, precision="bf16", augment_on_device=True)
    log = train_with_noise(create_architecture("cifar_resnet20", "cifar10"), "cifar_resnet20", "cifar10", data,
                           tmp_path, config, device="cpu")
    assert len(log) == 1 and read_checkpoint(tmp_path / "checkpoint.pth.tar")["config"]["precision"] == "bf16"


def test_spread_subset_keeps_arrays_and_spreads_classes():
    import numpy as np

    from smoothing.datasets import spread_subset
    from smoothing.datasets.cifar10 import ImageArrayDataset

    data = ImageArrayDataset(np.zeros((100, 32, 32, 3), np.uint8), np.repeat(np.arange(10), 10), np.arange(100))
    subset = spread_subset(data, 20)
    assert len(subset) == 20 and subset.images.shape == (20, 32, 32, 3) and sorted(set(subset.labels)) == list(range(10))
    assert len(data) == 100  # the original is untouched
    with pytest.raises(ValueError, match=r"--train-images must lie in \[1, 100\]"):
        spread_subset(data, 0)

