"""Each bad input gets one clear error that names the problem and the fix."""
import pickle

import pytest
import torch

from smoothing.architectures import create_architecture
from smoothing.checkpoints import CheckpointError, load_checkpoint, save_checkpoint
from smoothing.core import Smooth
from smoothing.datasets import DataNotFoundError, create_dataset


@pytest.fixture
def smoothed(linear_model):
    return Smooth(linear_model, 2, 0.5, input_shape=(1, 8, 8))


@pytest.mark.parametrize("sigma", [0.0, -0.25, float("nan")])
def test_sigma_must_be_positive(linear_model, sigma):
    with pytest.raises(ValueError, match="sigma must be a positive number"):
        Smooth(linear_model, 2, sigma)


@pytest.mark.parametrize("alpha", [0.0, 1.0, 2.0])
def test_alpha_outside_unit_interval(smoothed, alpha):
    x = torch.rand(1, 8, 8)
    with pytest.raises(ValueError, match=r"alpha must lie in \(0, 1\)"):
        smoothed.certify(x, 10, 100, alpha, 10)
    with pytest.raises(ValueError, match=r"alpha must lie in \(0, 1\)"):
        smoothed.predict(x, 100, alpha, 10)


def test_n0_larger_than_n(smoothed):
    with pytest.raises(ValueError, match=r"n0 must lie in \[1, n\]"):
        smoothed.certify(torch.rand(1, 8, 8), 1000, 100, 0.001, 10)


@pytest.mark.parametrize("n,batch", [(0, 10), (100, 0)])
def test_sample_sizes_positive(smoothed, n, batch):
    with pytest.raises(ValueError, match="must be positive"):
        smoothed.predict(torch.rand(1, 8, 8), n, 0.001, batch)


def test_nan_pixels(smoothed):
    x = torch.rand(1, 8, 8)
    x[0, 1, 2] = float("nan")
    with pytest.raises(ValueError, match="NaN or infinite pixels"):
        smoothed.certify(x, 10, 100, 0.001, 10)


@pytest.mark.parametrize("shape", [(4, 4), (2, 1, 8, 8)])
def test_certify_wants_one_image(smoothed, shape):
    with pytest.raises(ValueError, match=r"expected one image shaped \(C, H, W\)"):
        smoothed.certify(torch.rand(shape), 10, 100, 0.001, 10)


def test_wrong_image_size(smoothed):
    with pytest.raises(ValueError, match=r"the model expects images shaped \(1, 8, 8\)"):
        smoothed.certify_batch(torch.rand(2, 1, 5, 5), 10, 100, 0.001, 10)


def test_missing_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "nope.pth.tar", "cifar10")


def test_corrupt_checkpoint(tmp_path):
    path = tmp_path / "model.pth.tar"
    save_checkpoint(path, create_architecture("cifar_resnet20", "cifar10"), "cifar_resnet20")
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="corrupt or not a PyTorch checkpoint"):
        load_checkpoint(path, "cifar10")


class Payload:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_checkpoint_with_code_is_refused(tmp_path, capsys):
    path = tmp_path / "evil.pth.tar"
    torch.save({"arch": "cifar_resnet20", "state_dict": {}, "extra": Payload()}, path)
    with pytest.raises(CheckpointError, match="weights_only=True"):
        load_checkpoint(path, "cifar10")
    assert "must never run" not in capsys.readouterr().out


def test_checkpoint_of_another_architecture(tmp_path):
    path = tmp_path / "model.pth.tar"
    save_checkpoint(path, create_architecture("cifar_resnet20", "cifar10"), "cifar_resnet20")
    with pytest.raises(CheckpointError, match="does not fit architecture 'cifar_resnet56'"):
        load_checkpoint(path, "cifar10", arch="cifar_resnet56")


def test_checkpoint_without_arch(tmp_path):
    path = tmp_path / "bare.th"
    torch.save({"state_dict": create_architecture("cifar_resnet20", "cifar10")[1].state_dict()}, path)
    with pytest.raises(CheckpointError, match="pass --arch"):
        load_checkpoint(path, "cifar10")


def test_unknown_names():
    with pytest.raises(KeyError, match="unknown architecture 'cifar_resnet11'. Did you mean 'cifar_resnet110'"):
        create_architecture("cifar_resnet11", "cifar10")
    with pytest.raises(KeyError, match="unknown dataset 'cifar100'"):
        create_dataset("cifar100")


def test_missing_data_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("SMOOTHBENCH_DATA", raising=False)
    with pytest.raises(DataNotFoundError, match="pass --data-root PATH or set the environment variable SMOOTHBENCH_DATA"):
        create_dataset("cifar10")
    with pytest.raises(DataNotFoundError, match="does not exist"):
        create_dataset("cifar10", root=tmp_path / "absent")
    with pytest.raises(DataNotFoundError, match="cifar-10-batches-py/test_batch"):
        create_dataset("cifar10", root=tmp_path)
    monkeypatch.setenv("IMAGENET_DIR", str(tmp_path))
    with pytest.raises(DataNotFoundError, match="ImageNet test folder not found"):
        create_dataset("imagenet")


def test_corrupt_and_hostile_cifar_batches(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    (folder / "test_batch").write_bytes(b"\x80\x02garbage")
    with pytest.raises(ValueError, match="test_batch is not a readable CIFAR-10 python batch"):
        create_dataset("cifar10", root=tmp_path)
    (folder / "test_batch").write_bytes(pickle.dumps(Payload()))
    with pytest.raises(ValueError, match="unexpected object builtins.print"):
        create_dataset("cifar10", root=tmp_path)


class TenLogits(torch.nn.Module):
    """A 10-class model on (1, 8, 8) images whose logits can be made non-finite."""

    def __init__(self, scale: float = 1.0):
        super().__init__()
        self.linear = torch.nn.Linear(64, 10)
        self.linear.weight.data.mul_(scale)

    def forward(self, x):
        return self.linear(x.flatten(1))


def test_logits_wider_than_num_classes_are_refused():
    """With num_classes = 2 and 10 logits, votes for classes 2..9 used to land in the next image's counts
    (two images' counts summing to 2n, the wrong image certified)."""
    smoothed = Smooth(TenLogits(), 2, 0.25, seed=0)
    with pytest.raises(ValueError, match=r"logits shaped \(20, 10\), expected \(batch, 2\) for num_classes = 2"):
        smoothed.certify_batch(torch.rand(2, 1, 8, 8), 10, 20, 0.001, 40)
    with pytest.raises(ValueError, match="expected \\(batch, 20\\)"):
        Smooth(TenLogits(), 20, 0.25).predict(torch.rand(1, 8, 8), 20, 0.001, 40)


def test_nan_weights_certify_nothing():
    model = TenLogits()
    model.linear.weight.data[3, 5] = float("nan")
    smoothed = Smooth(model, 10, 0.25, seed=0)
    for call in (lambda x: smoothed.certify(x, 10, 100, 0.001, 50), lambda x: smoothed.predict(x, 100, 0.001, 50),
                 lambda x: smoothed.sampler.tally(x[None], 100, 50, scores=True)):
        with pytest.raises(ValueError, match=r"NaN or infinite logits on (10|100) of \1 noisy inputs"):
            call(torch.rand(1, 8, 8))


def test_noise_that_overflows_certifies_nothing():
    """sigma = 1e300 used to certify a radius of 1e300: float32 noise overflows to inf and the logits to NaN."""
    with pytest.raises(ValueError, match="overflows float32 noise"):
        Smooth(TenLogits(), 10, 1e300)
    with pytest.raises(ValueError, match="NaN or infinite logits"):  # finite noise, overflowing logits
        Smooth(TenLogits(scale=1e10), 10, 1e30, seed=0).certify(torch.rand(1, 8, 8), 10, 100, 0.001, 50)


@pytest.mark.parametrize("image,message", [
    ((torch.rand(1, 8, 8) * 255).to(torch.uint8), "images are torch.uint8, expected floating-point pixels in \\[0, 1\\]"),
    (torch.rand(1, 8, 8) * 255, "pixels must lie in \\[0, 1\\], got values from"),
    (torch.rand(1, 8, 8) - 0.5, "pixels must lie in \\[0, 1\\]"),
])
def test_pixels_outside_the_unit_range_are_refused(smoothed, image, message):
    with pytest.raises(ValueError, match=message):
        smoothed.certify(image, 10, 100, 0.001, 10)
    with pytest.raises(ValueError, match=message):
        smoothed.predict(image, 100, 0.001, 10)


def test_truncated_imagenet_jpeg_is_named(tmp_path):
    from PIL import Image

    val = tmp_path / "val"
    val.mkdir()
    Image.new("RGB", (300, 300), (10, 200, 30)).save(tmp_path / "good.JPEG", quality=90)
    data = (tmp_path / "good.JPEG").read_bytes()
    for k in range(1000):
        (val / f"n{k:08d}").mkdir()
        (val / f"n{k:08d}" / ("torn.JPEG" if k == 1 else "good.JPEG")).write_bytes(data[: len(data) // 2] if k == 1 else data)
    dataset = create_dataset("imagenet", root=tmp_path)
    assert dataset[0][0].shape == (3, 224, 224)
    with pytest.raises(ValueError, match=r"n00000001/torn.JPEG is not a readable image"):
        dataset[1]
