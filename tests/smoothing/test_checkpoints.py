"""Checkpoints (smoothing.checkpoints): the reference's format, safe loading, one clear error per bad file."""
import pytest
import torch

from bench.cli import main
from smoothing.architectures import create_architecture
from smoothing.checkpoints import CheckpointError, load_checkpoint, save_checkpoint
from smoothing.datasets import create_dataset
from tests.helpers import Payload, one_line_error


def test_missing_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "nope.pth.tar", "cifar10")


def test_corrupt_checkpoint(tmp_path):
    path = tmp_path / "model.pth.tar"
    save_checkpoint(path, create_architecture("cifar_resnet20", "cifar10"), "cifar_resnet20")
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="corrupt or not a PyTorch checkpoint"):
        load_checkpoint(path, "cifar10")


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


def outputs_equal(a, b, shape=(2, 3, 32, 32)) -> bool:
    x = torch.rand(shape)
    with torch.no_grad():
        return torch.equal(a.eval()(x), b.eval()(x))


def test_round_trip(tmp_path):
    model = create_architecture("cifar_resnet20", "cifar10")
    save_checkpoint(tmp_path / "c.pth.tar", model, "cifar_resnet20", epoch=3, noise_sd=0.25)
    loaded, checkpoint = load_checkpoint(tmp_path / "c.pth.tar", "cifar10")
    assert checkpoint["epoch"] == 3 and checkpoint["arch"] == "cifar_resnet20"
    assert outputs_equal(model, loaded)


def test_reference_key_layout():
    """Keys of the reference's Sequential(NormalizeLayer, cifar_resnet): normalisation not saved."""
    keys = list(create_architecture("cifar_resnet110", "cifar10").state_dict())
    assert keys[0] == "1.conv1.weight" and keys[-1] == "1.fc.bias"
    assert "1.layer2.0.downsample.1.running_var" in keys and "1.layer3.17.conv2.weight" in keys
    assert not any(k.startswith("0.") for k in keys)


def test_dataparallel_prefix_is_stripped(tmp_path):
    """The reference's ImageNet checkpoints: Sequential(NormalizeLayer, DataParallel(resnet50))."""
    model = create_architecture("resnet50", "imagenet")
    state = {k.replace("1.", "1.module.", 1): v for k, v in model.state_dict().items()}
    torch.save({"arch": "resnet50", "state_dict": state, "epoch": 90}, tmp_path / "checkpoint.pth.tar")
    loaded, _ = load_checkpoint(tmp_path / "checkpoint.pth.tar", "imagenet")
    assert outputs_equal(model, loaded, (1, 3, 224, 224))


def test_real_pretrained_weights(shared):
    """Idelbayev's ResNet-20 (bare 'module.' state dict, no arch) on the embedded exact test images."""
    path = shared / "models/pytorch_resnet_cifar10/pretrained_models/resnet20-12fca82f.th"
    model, _ = load_checkpoint(path, "cifar10", arch="idelbayev_resnet20")
    data = create_dataset("cifar10-embedded")
    x = torch.stack([data[i][0] for i in range(len(data))])
    with torch.no_grad():
        accuracy = (model(x).argmax(1).numpy() == data.labels).mean()
    assert accuracy > 0.88  # 91.78 % on the full test set


def test_export_weights_drops_training_state(tmp_path):
    from smoothing.checkpoints import export_weights, read_checkpoint

    model = create_architecture("cifar_resnet20", "cifar10")
    optimizer = torch.optim.Adam(model.parameters())
    model(torch.rand(2, 3, 32, 32)).sum().backward()
    optimizer.step()
    save_checkpoint(tmp_path / "c.pth.tar", model, "cifar_resnet20", epoch=4, optimizer=optimizer.state_dict(), lmt_c=0.1)
    export_weights(tmp_path / "c.pth.tar", tmp_path / "m.pth.tar")
    exported = read_checkpoint(tmp_path / "m.pth.tar")
    assert "optimizer" not in exported and exported["epoch"] == 4 and exported["lmt_c"] == 0.1
    assert (tmp_path / "m.pth.tar").stat().st_size < 0.5 * (tmp_path / "c.pth.tar").stat().st_size
    loaded, _ = load_checkpoint(tmp_path / "m.pth.tar", "cifar10")
    assert outputs_equal(model, loaded)


@pytest.mark.parametrize("content", [b"hello, I am a text file\n", b"", b"PK\x03\x04 not really a zip",
                                     b"\x80\x02}q\x00."])
def test_a_file_that_is_not_a_checkpoint_is_named(tmp_path, capsys, content):
    """A text file given as a checkpoint printed `error: 101` or `IndexError: pop from empty list`."""
    path = tmp_path / "text.pth.tar"
    path.write_bytes(content)
    assert main(["certify", "cifar10-embedded", str(path), "0.25", str(tmp_path / "o.tsv"), "--max", "1"]) == 2
    line = one_line_error(capsys)
    assert str(path) in line and ("not a PyTorch checkpoint" in line or "expected a dict" in line
                                  or "no 'state_dict'" in line or "does not name its architecture" in line), line


def test_a_checkpoint_whose_arch_is_not_a_name_is_named(tmp_path, capsys):
    import torch

    path = tmp_path / "odd.pth.tar"
    torch.save({"arch": 5, "state_dict": create_architecture("cifar_resnet20", "cifar10").state_dict()}, path)
    assert main(["certify", "cifar10-embedded", str(path), "0.25", str(tmp_path / "o.tsv"), "--max", "1"]) == 2
    assert f"{path} names its architecture as a int, not a name; pass --arch" in one_line_error(capsys)

