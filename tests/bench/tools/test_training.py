"""The train and evaluate commands (bench.tools.training)."""
from smoothing.architectures import create_architecture


def test_evaluate_command(tmp_path):
    import pandas as pd

    from bench.cli import main
    from smoothing.checkpoints import save_checkpoint

    checkpoint = tmp_path / "m.pth.tar"
    save_checkpoint(checkpoint, create_architecture("cifar_resnet20", "cifar10"), "cifar_resnet20")
    assert main(["evaluate", str(checkpoint), "--max", "40", "--skip", "2", "--noise-sd", "0", "0.5",
                 "--device", "cpu", "--out", str(tmp_path / "e.csv")]) == 0
    frame = pd.read_csv(tmp_path / "e.csv")
    assert list(frame.noise_sd) == [0.0, 0.5] and set(frame.images) == {20} and frame.accuracy.between(0, 1).all()


def test_train_command_refuses_nan_lr(tmp_path, capsys):
    from bench.cli import main

    assert main(["train", "cifar10-embedded", "cifar_resnet20", str(tmp_path / "out"), "--lr", "nan"]) == 2
    assert "argument --lr: expected a positive number, got 'nan'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()

