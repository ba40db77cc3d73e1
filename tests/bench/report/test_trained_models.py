"""The models trained here, read from the files beside their checkpoints (bench.report.trained_models)."""
import pandas as pd
import pytest

from bench.models import ModelSpec
from bench.models.cifar10_jpeg_zoo import SIGMAS
from bench.report.trained_models import markdown_view, trained_models_frame
from smoothing.training import LOG_COLUMNS, LOG_NAME


def write_model(folder, seconds, train_acc, evaluations=()):
    folder.mkdir(parents=True)
    log = pd.DataFrame([dict(zip(LOG_COLUMNS, (epoch + 1, s, 0.1, 1.0, a, 1.0, 0.5)))
                        for epoch, (s, a) in enumerate(zip(seconds, train_acc))])
    log.to_csv(folder / LOG_NAME, sep="\t", index=False)
    for name, rows in evaluations:
        pd.DataFrame(rows).to_csv(folder / f"accuracy_{name}.csv", index=False)
    return folder / "checkpoint.pth.tar"


def spec(name, checkpoint, source="smoothbench"):
    return ModelSpec(name, "cifar10", checkpoint, architecture="net", source=source, training_device="a CPU")


def test_training_and_evaluations_are_read_from_beside_the_checkpoint(tmp_path):
    evaluation = [dict(checkpoint="x", dataset="cifar10-jpeg", split="test", noise_sd=s, images=10000, accuracy=a, loss=1.0)
                  for s, a in ((0.0, 0.685), (0.25, 0.74))]
    trained = write_model(tmp_path / "a", [1800.0, 3600.0], [0.5, 0.76], [("jpeg_test", evaluation)])
    unevaluated = write_model(tmp_path / "b", [360.0], [0.3])
    frame = trained_models_frame([spec("a", trained), spec("b", unevaluated),
                                  spec("elsewhere", trained, source="a paper"), spec("no-log", tmp_path / "c" / "x.pth")])
    assert list(frame["model"]) == ["a", "a", "b"]
    a = frame[frame["model"] == "a"].set_index("noise_sd")
    assert a["epochs"].tolist() == [2, 2] and a["training_hours"].tolist() == pytest.approx([1.5, 1.5])
    assert a.loc[0.25, "accuracy"] == pytest.approx(0.74) and a.loc[0.0, "train_acc"] == pytest.approx(0.76)
    b = frame[frame["model"] == "b"].iloc[0]
    assert b["training_hours"] == pytest.approx(0.1) and pd.isna(b["accuracy"])
    text = markdown_view(frame)
    assert "cifar10-jpeg test (10,000 images), noisy" in text and "0.740" in text and "1.5 h on a CPU" in text
    assert "6.0 min on a CPU" in text  # b: 360 s
    assert text.splitlines()[-1].split("|")[-2].strip() == "-"  # b was never evaluated


@pytest.mark.parametrize("net,epochs", [("resnet20", 15), ("resnet110", 9)])
def test_the_committed_zoos_are_reported(net, epochs):
    frame = trained_models_frame()
    zoo = frame[frame["model"].str.startswith(f"cifar10-jpeg-{net}-noise")]
    assert {f"cifar10-jpeg-{net}-noise{s}" for s in SIGMAS} <= set(zoo["model"])
    assert (zoo["epochs"] == epochs).all() and zoo["training_hours"].gt(0).all() and zoo["accuracy"].notna().all()

