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
    return Smooth(linear_model, 2, 0.5, input_shape=(1, 4, 4))


@pytest.mark.parametrize("sigma", [0.0, -0.25, float("nan")])
def test_sigma_must_be_positive(linear_model, sigma):
    with pytest.raises(ValueError, match="sigma must be a positive number"):
        Smooth(linear_model, 2, sigma)


@pytest.mark.parametrize("alpha", [0.0, 1.0, 2.0])
def test_alpha_outside_unit_interval(smoothed, alpha):
    x = torch.rand(1, 4, 4)
    with pytest.raises(ValueError, match=r"alpha must lie in \(0, 1\)"):
        smoothed.certify(x, 10, 100, alpha, 10)
    with pytest.raises(ValueError, match=r"alpha must lie in \(0, 1\)"):
        smoothed.predict(x, 100, alpha, 10)


def test_n0_larger_than_n(smoothed):
    with pytest.raises(ValueError, match=r"n0 must lie in \[1, n\]"):
        smoothed.certify(torch.rand(1, 4, 4), 1000, 100, 0.001, 10)


@pytest.mark.parametrize("n,batch", [(0, 10), (100, 0)])
def test_sample_sizes_positive(smoothed, n, batch):
    with pytest.raises(ValueError, match="must be positive"):
        smoothed.predict(torch.rand(1, 4, 4), n, 0.001, batch)


def test_nan_pixels(smoothed):
    x = torch.rand(1, 4, 4)
    x[0, 1, 2] = float("nan")
    with pytest.raises(ValueError, match="NaN or infinite pixels"):
        smoothed.certify(x, 10, 100, 0.001, 10)


@pytest.mark.parametrize("shape", [(4, 4), (2, 1, 4, 4)])
def test_certify_wants_one_image(smoothed, shape):
    with pytest.raises(ValueError, match=r"expected one image shaped \(C, H, W\)"):
        smoothed.certify(torch.rand(shape), 10, 100, 0.001, 10)


def test_wrong_image_size(smoothed):
    with pytest.raises(ValueError, match=r"the model expects images shaped \(1, 4, 4\)"):
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
