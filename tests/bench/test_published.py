"""Published certify logs as data (bench.published): what each released path is, every row checked, one copy
of identical logs, the committed store, and the authors' own curves recomputed."""
import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from bench.cli import main
from bench.published import (
    DUPLICATE,
    SOURCES,
    import_published,
    p_a_from_radius,
    radius_floor,
    read_published,
    significant_digits,
    write_published,
)
from bench.published.cohen2019 import cohen2019_rows
from bench.report.tables import certified_accuracy, read_certify_log
from tests.helpers import REPOSITORY, one_line_error

HEADER = "idx\tlabel\tpredict\tradius\tcorrect\ttime\n"


def test_a_printed_radius_is_lowered_one_unit_in_its_last_digit():
    assert np.allclose(radius_floor([0.405, 0.0734, 1.5, 0.0, 3.81]), [0.404, 0.0733, 1.49, 0.0, 3.8])
    assert np.allclose(radius_floor([0.1171, 2.5], digits=4), [0.117, 2.499])
    p_a = p_a_from_radius([0.405, 0.9], [0.25, 0.25], [3, -1])
    assert p_a[0] == pytest.approx(norm.cdf(0.404 / 0.25)) and p_a[1] == 0.5  # an abstention: pA = 1/2
    printed = np.array([0.405, 0.0734, 1.5, 3.81, 0.999])
    unit = 10.0 ** (np.floor(np.log10(printed)) - 2)
    assert (radius_floor(printed) < printed - unit / 2).all()  # below every radius that prints as `printed`
    assert significant_digits([0.12, 0.1171, 1.0]) == 4 and significant_digits([0.0]) == 3


@pytest.mark.parametrize("source, path, expected", [
    ("salman2019", "data/certify/best_models/cifar10/ours_pretraining_selftraining/cifar10/self_training/"
     "PGD_2steps/weight_0.5/eps_255/cifar10/resnet110/noise_0.50/test/sigma_0.50",
     dict(method="SmoothAdv", dataset="cifar10", arch="resnet110", sigma=0.5, group="best_models/ours_pretraining_selftraining",
          extra_data="ImageNet-32 pre-training + self-training on unlabeled images")),
    ("salman2019", "data/certify/imagenet/DDN_2steps/eps_1024/resnet50/noise_0.25/test/sigma_0.25",
     dict(method="SmoothAdv", dataset="imagenet", arch="resnet50", variant="DDN 2 steps, eps = 4", group="sweep")),
    ("salman2019", "data/certify/cifar10/PGD_4steps_multiNoiseSamples/8-multitrain/eps_512/cifar10/resnet110/noise_1.00/test/sigma_1.00",
     dict(method="SmoothAdv", variant="PGD 4 steps, m = 8, eps = 2", extra_data="", train_sigma=1.0)),
    ("salman2019", "data_cohen/certify/imagenet/resnet50/noise_0.50/train/sigma_0.50",
     dict(method="Gaussian augmentation", split="train", group="data_cohen (Cohen et al.'s logs)")),
    ("salman2019", "data/certify/cifar10/PGD_2steps_baseAttackExp/without_noise/eps_512/cifar10/resnet110/noise_0.00/test/sigma_0.12",
     "the base-attack ablation trained without noise (sigma 0): not a smoothing-trained model"),
    ("jeong2020", "data/certify/cifar10/consistency/salman_255.0_10_10/num_4/lbd_2.0/eta_0.5/cifar_resnet110/noise_0.25",
     dict(method="Consistency (SmoothAdv)", arch="cifar_resnet110", sigma=0.25, variant="salman_255.0_10_10/num_4/lbd_2.0/eta_0.5")),
    ("jeong2020", "data/certify/imagenet/consistency/cohen/num_2/lbd_5.0/eta_0.5/noise_0.50",
     dict(method="Consistency (Gaussian)", arch="resnet50", dataset="imagenet")),
    ("jeong2020", "data/certify/cifar10/macer/num_16/lbd_4.0/gamma_8.0/beta_16.0/cifar_densenet40/noise_0.50_8966",
     dict(method="MACER", arch="cifar_densenet40", variant="num_16/lbd_4.0/gamma_8.0/beta_16.0 (run 8966)")),
    ("jeong2020", "data/certify/cifar10/consistency/cohen/num_2/lbd_20.0/eta_0.5/cifar_resnet110/noise_0.25_acc",
     "an _acc curve (radius, certified accuracy over all rows), not per-image rows"),
    ("cohen2019", "data/certify/cifar10/resnet110/noise_0.12/test/sigma_0.50",
     dict(method="Gaussian augmentation", train_sigma=0.12, sigma=0.5)),
    ("cohen2019", "data/predict/imagenet/resnet50/noise_0.25/test/N_1000",
     "a PREDICT log (N samples per prediction), not a certificate"),
])
def test_each_released_path_says_what_it_is(source, path, expected):
    described = SOURCES.create(source).describe(path)
    if isinstance(expected, str):
        assert described == expected
    else:
        assert {key: getattr(described, key) for key in expected} == expected


def write_log(path, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + "".join(f"{i}\t{label}\t{predict}\t{radius}\t{int(label == predict)}\t1.0\n"
                                     for i, label, predict, radius in rows))


def released_tree(root):
    """A tiny cohen2019 and jeong2020: a log, its copy with other times, an empty log, a 10,000-image log."""
    certify = root / "cohen2019" / "data" / "certify" / "cifar10" / "resnet110"
    write_log(certify / "noise_0.25" / "test" / "sigma_0.25", [(0, 3, 3, 0.405), (20, 7, -1, 0.0), (40, 4, 2, 0.1)])
    write_log(certify / "noise_0.50" / "test" / "sigma_0.50", [(0, 3, 3, 0.405), (20, 7, -1, 0.0), (40, 4, 2, 0.1)])
    write_log(certify / "noise_1.00" / "test" / "sigma_1.00", [])
    jeong = root / "jeong2020" / "data" / "certify" / "cifar10" / "cohen" / "cifar_resnet20" / "noise_0.50_7"
    write_log(jeong, [(i, i % 10, i % 10, 0.5) for i in range(10_000)])
    (root / "cohen2019" / "README.md").write_text("not a log")


def test_import_keeps_one_copy_checks_rows_and_restricts_supersets(tmp_path):
    released_tree(tmp_path / "ref")
    entries, rows = import_published(tmp_path / "ref", ["cohen2019", "jeong2020"])
    status = entries.set_index("file")["status"]
    assert status["data/certify/cifar10/resnet110/noise_0.25/test/sigma_0.25"] == "imported"
    assert status["data/certify/cifar10/resnet110/noise_0.50/test/sigma_0.50"].startswith(DUPLICATE)
    assert status["data/certify/cifar10/resnet110/noise_1.00/test/sigma_1.00"] == "skipped: no rows (an empty log)"
    jeong = entries[entries["source"] == "jeong2020"].iloc[0]
    assert (jeong["images"], jeong["stored"], jeong["stored_index_set"]) == (10_000, 500, "every 20th from 0 (500)")
    assert len(rows) == 3 + 500
    write_published(entries, rows, tmp_path / "results")
    published = read_published(tmp_path / "results")
    cohen = published[published["source"] == "cohen2019"]
    assert len(published) == 503 and cohen.loc[cohen["idx"] == 40, "correct"].tolist() == [0]
    write_log(tmp_path / "ref" / "cohen2019" / "data" / "certify" / "imagenet" / "resnet50" / "noise_0.25" / "test"
              / "sigma_0.25", [(0, 1, -1, 0.3)])
    with pytest.raises(ValueError, match=r"sigma_0.25:2: impossible row"):
        import_published(tmp_path / "ref", ["cohen2019"])


def test_the_command_prints_counts_and_refuses_a_missing_folder(tmp_path, capsys):
    released_tree(tmp_path / "ref")
    assert main(["import-published", str(tmp_path / "ref"), "--sources", "cohen2019", "--results",
                 str(tmp_path / "results")]) == 0
    assert "3 rows of 1 logs" in capsys.readouterr().out
    assert main(["import-published", str(tmp_path / "none"), "--sources", "cohen2019"]) == 2
    assert "no released logs of cohen2019" in one_line_error(capsys)


def test_the_committed_store_holds_every_released_log():
    """Built by `smoothbench import-published ../shared/reference`: the counts of the closing note."""
    published = read_published(REPOSITORY / "results")
    logs = published.groupby("source")["log"].nunique().to_dict()
    assert logs == {"cohen2019": 13, "jeong2020": 27, "salman2019": 1484}


def test_the_papers_own_rows_are_its_released_logs(shared):
    """cohen2019_rows (the paper comparison's and sample-efficiency's rows) from the committed store equal each
    released log at its model's sigma row for row; the paper's Table 1 cell at sigma 0.25 comes out of them."""
    rows = cohen2019_rows(read_published(REPOSITORY / "results"))
    assert rows.groupby("model").size().to_dict() == {
        **{f"cohen2019-cifar10-resnet110-noise{s}": 500 for s in ("0.12", "0.25", "0.50", "1.00")},
        "cohen2019-imagenet-resnet50-noise0.25": 427, "cohen2019-imagenet-resnet50-noise0.50": 500,
        "cohen2019-imagenet-resnet50-noise1.00": 500}
    for model, group in rows.groupby("model"):
        _, dataset, arch, noise = model.split("-")
        sigma = noise.removeprefix("noise")
        log = read_certify_log(shared / "reference" / "cohen2019" / "data" / "certify" / dataset / arch /
                               f"noise_{sigma}" / "test" / f"sigma_{sigma}")
        columns = ["idx", "label", "predict", "radius", "correct"]
        assert group[columns].reset_index(drop=True).equals(log[columns].reset_index(drop=True)), model
    cifar = rows[rows["model"] == "cohen2019-cifar10-resnet110-noise0.25"]
    assert (cifar["idx"] % 20 == 0).all()
    assert certified_accuracy(cifar, [0.25, 0.5]) == pytest.approx([0.600, 0.428])


def test_recomputed_curves_equal_the_authors_own(shared):
    """jeong2020's `_acc` files: certified accuracy over all 10,000 rows at radii 0, 0.005, ..., 4 as the authors
    computed it (np.arange's floats, printed to 5 decimals: their 0.175 is 0.17500000000000002, above a printed
    radius of 0.175); ours from the same log's rows at the same floats, digit for digit."""
    checked = 0
    for curve_path in sorted((shared / "reference" / "jeong2020").rglob("*_acc")):
        log = read_certify_log(curve_path.with_name(curve_path.name.removesuffix("_acc")))
        curve = pd.read_csv(curve_path, sep="\t", header=None, names=["radius", "accuracy"])
        radii = np.arange(0.0, 4.0025, 0.005)
        assert np.allclose(radii, curve["radius"], rtol=0, atol=5e-6)
        assert (np.array(certified_accuracy(log, radii.tolist())) == curve["accuracy"]).all(), curve_path
        checked += 1
    assert checked == 8
