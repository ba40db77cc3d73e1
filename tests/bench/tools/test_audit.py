"""Soundness audits by attack (bench.tools.audit): nothing inside a certificate, something beyond it."""
import torch
from torch import nn

from baselines.lipschitz import LipschitzCertifier
from bench.tools.audit import audit_lipschitz, audit_smoothing
from smoothing.architectures import NormalizeLayer
from smoothing.core import Smooth


def test_lipschitz_audit_finds_nothing_inside_and_something_beyond():
    torch.manual_seed(0)
    model = nn.Sequential(NormalizeLayer((0.5,) * 3, (1.0,) * 3), nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 36, 3))).eval()
    images = torch.rand(40, 3, 6, 6, generator=torch.Generator().manual_seed(1))
    labels = model(images).argmax(1)
    frame = audit_lipschitz(LipschitzCertifier.for_model(model, (3, 6, 6)), images, labels, list(range(40)),
                            beyond=20.0, steps=30, restarts=2)
    assert len(frame) > 0 and not frame.fooled_within_radius.any()
    assert frame["fooled_within_20x_radius"].any()


def test_smoothing_audit_on_the_linear_model(linear_model):
    """PREDICT after an attack inside the certified radius keeps its answer; at 2R past the boundary it flips."""
    distances = torch.tensor([0.4, -0.6])
    images = list(linear_model.points_at(distances))
    frame = audit_smoothing(Smooth(linear_model, 2, 0.25), images, [1, 0], [0, 1], n0=100, n=4000, alpha=0.001,
                            batch=4000, predict_n=4000, beyond=2.0, steps=10, samples=64)
    assert len(frame) == 2 and not frame.changed_within_radius.any()
    assert (frame.distance_within_radius <= 0.99 * frame.radius + 1e-6).all()
    assert frame["changed_within_2x_radius"].all()


def test_audit_and_lipschitz_commands(tmp_path, capsys):
    from bench.cli import main
    from smoothing.architectures import create_architecture
    from smoothing.checkpoints import save_checkpoint

    checkpoint = tmp_path / "cnn.pth.tar"
    save_checkpoint(checkpoint, create_architecture("plain_cnn4c2f_w16", "cifar10"), "plain_cnn4c2f_w16")
    assert main(["lipschitz", str(checkpoint), "--max", "8", "--out", str(tmp_path / "l.csv")]) == 0
    assert "certified_accuracy_r=0.1412" in (tmp_path / "l.csv").read_text()
    assert main(["audit", "lipschitz-margin", str(checkpoint), "--max", "8", "--steps", "3", "--restarts", "1",
                 "--out", str(tmp_path / "a.csv")]) == 0
    assert "successes inside the certified radius: 0" in capsys.readouterr().out
    assert main(["audit", "gaussian", str(checkpoint), "--max", "2"]) == 2
    assert "audit gaussian needs --sigma" in capsys.readouterr().err

