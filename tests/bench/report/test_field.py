"""The field's leaderboard (bench.report.field): rows placed on benchmarks, ranked only inside one, envelopes
per method, ACR, and the committed benchmarks.csv.xz against the papers' own tables."""
import numpy as np
import pandas as pd
import pytest

from bench.benchmarks import STANDARD, ranking_order
from bench.report.field import ENVELOPE, PER_SIGMA, field_frame, place
from bench.report.leaderboard import BENCHMARKS_FILE
from tests.helpers import REPOSITORY

CIFAR = STANDARD[0]


def published(log: int, sigma: float, radii, correct=None, method="Gaussian augmentation", n=100_000,
              idx=None) -> pd.DataFrame:
    """A published log's rows as read_published gives them: every image of the CIFAR-10 benchmark."""
    idx = CIFAR.indices() if idx is None else idx
    radii = np.resize(np.asarray(radii, dtype=float), len(idx))
    correct = np.ones(len(idx), dtype=int) if correct is None else np.resize(correct, len(idx))
    return pd.DataFrame(dict(log=log, idx=idx, label=0, predict=np.where(correct == 1, 0, 1), radius=radii,
                             correct=correct, source="paper", method=method, variant="", group="", arch="net",
                             extra_data="", train_sigma=sigma, sigma=sigma, dataset="cifar10", n=n, alpha=0.001,
                             index_set="", file=f"log{log}", printed_digits=3))


def test_a_row_set_is_on_a_benchmark_only_with_all_its_images_n_and_alpha():
    rows = published(0, 0.25, [0.3])
    assert place(rows, "cifar10", 100_000, 0.001)[0] == "cifar10-paper"
    assert place(rows, "cifar10", 10_000, 0.001)[0] == ""  # another n
    assert place(rows.iloc[1:], "cifar10", 100_000, 0.001)[0] == ""  # an image missing
    assert place(rows, "cifar10-jpeg", 100_000, 0.001)[0] == "cifar10-jpeg-paper"  # other pixels, other benchmark
    superset = published(0, 0.25, [0.3], idx=np.arange(10_000))
    name, kept, restricted = place(superset, "cifar10", 100_000, 0.001)
    assert (name, len(kept), restricted) == ("cifar10-paper", 500, True)


def test_ranked_by_the_headline_then_the_next_radii_with_envelopes_and_acr():
    assert ranking_order(CIFAR)[:3] == [0.5, 0.75, 1.0] and ranking_order(CIFAR)[-1] == 0.0
    frame = field_frame(pd.concat([
        published(0, 0.25, [0.6]),  # 1.0 at r <= 0.5, 0 beyond
        published(1, 0.5, [0.8]),  # 1.0 up to 0.75: wins the tie at 0.5 on 0.75
        published(2, 1.0, [2.0], correct=[1, 0], method="Other method"),  # half right: 0.5 everywhere up to 2
        published(3, 0.5, [0.8], n=10_000),  # another n: not ranked
    ], ignore_index=True), None)
    per_sigma = frame[(frame["kind"] == PER_SIGMA) & (frame["benchmark"] == "cifar10-paper")].set_index("file")
    assert per_sigma.loc["paper/log1", "rank"] == 1 and per_sigma.loc["paper/log0", "rank"] == 2 and per_sigma.loc["paper/log2", "rank"] == 3
    other = frame[frame["benchmark"] == ""].iloc[0]
    assert pd.isna(other["rank"]) and other["largest_radius"] == pytest.approx(0.5 * 3.0902 * 1.0, rel=0.05)
    assert per_sigma.loc["paper/log2", "acr"] == pytest.approx(1.0)  # wrong predictions count 0: (2 + 0) / 2
    envelope = frame[frame["kind"] == ENVELOPE].set_index("method")
    gaussian = envelope.loc["Gaussian augmentation"]
    assert (gaussian["r=0.5"], gaussian["r=0.75"], gaussian["r=1"], gaussian["variant"]) == (1.0, 1.0, 0.0, "best of 2")
    assert list(frame.loc[frame["kind"] == ENVELOPE, "rank"]) == [1, 2]
    derived = frame[frame["kind"] == "derived"]  # each method's best log at the headline, three guarantees
    assert sorted(derived["certifier"]) == ["gaussian"] * 2 + ["li-renyi"] * 2 + ["pixeldp"] * 2
    assert envelope.loc["Other method", "r=2"] == 0.5


def test_the_committed_leaderboard_recomputes_the_papers_tables():
    """Cohen et al.'s published tables recomputed from the committed logs: CIFAR-10 sigma 0.25 (0.60 at r = 0.25,
    0.43 at 0.5) and ImageNet sigma 0.5 (0.57 clean, 0.46 at r = 0.5, 0.37 at 1.0). Their ImageNet sigma 0.25 log
    stops at 427 of the 500 images, so it is among the other runs, unranked."""
    board = pd.read_csv(REPOSITORY / "results" / BENCHMARKS_FILE, keep_default_na=False, na_values=[""])
    cohen = board[(board["source"] == "cohen2019") & (board["kind"] == PER_SIGMA)]
    cifar = cohen[(cohen["benchmark"] == "cifar10-paper") & (cohen["train_sigma"] == 0.25) & (cohen["sigma"] == 0.25)]
    assert (cifar["r=0.25"].item(), cifar["r=0.5"].item()) == (0.6, 0.428)
    imagenet = cohen[(cohen["benchmark"] == "imagenet-paper") & (cohen["train_sigma"] == 0.5) & (cohen["sigma"] == 0.5)]
    assert (imagenet["r=0"].item(), imagenet["r=0.5"].item(), imagenet["r=1"].item()) == (0.572, 0.458, 0.372)
    assert cohen.loc[(cohen["dataset"] == "imagenet") & (cohen["sigma"] == 0.25), "benchmark"].isna().all()
    ranked = board[(board["benchmark"] != "") & (board["kind"] != "derived")]
    for _, group in ranked.groupby(["benchmark", "kind"]):
        assert sorted(group["rank"]) == list(range(1, len(group) + 1))


def test_the_derived_guarantees_never_beat_the_gaussian_one():
    """On the published logs, from the same pA: gaussian >= li-renyi >= pixeldp at every radius."""
    board = pd.read_csv(REPOSITORY / "results" / BENCHMARKS_FILE, keep_default_na=False, na_values=[""])
    derived = board[board["kind"] == "derived"]
    assert set(derived["benchmark"]) == {"cifar10-paper", "imagenet-paper"} and derived["rank"].isna().all()
    columns = [c for c in board.columns if c.startswith("r=") and not c.endswith(("low", "high"))]
    for _, log in derived.groupby("file"):
        by = log.set_index("certifier")[columns].fillna(0)
        assert (by.loc["gaussian"] >= by.loc["li-renyi"]).all() and (by.loc["li-renyi"] >= by.loc["pixeldp"]).all()


def test_envelope_curves_are_the_best_row_set_at_each_radius():
    from bench.report.field import envelope_curves

    curves = envelope_curves(pd.concat([published(0, 0.25, [0.6]), published(1, 0.5, [0.8]),
                                        published(2, 1.0, [2.0], correct=[1, 0], method="Other")], ignore_index=True),
                             None, points=10)
    gaussian = curves[curves["method"].str.startswith("Gaussian")].set_index("radius")["accuracy"]
    assert gaussian.loc[0.0] == 1.0 and gaussian.loc[0.75] == 1.0 and gaussian.loc[1.0] == 0.0  # log 1 reaches 0.8
    other = curves[curves["method"].str.startswith("Other") & (curves["radius"] <= 2.0)]  # half certified at 2
    assert (other["accuracy"] == 0.5).all() and (other["low"] < 0.5).all() and (other["high"] > 0.5).all()


# SmoothAdv's own envelope tables (Hadisalman/smoothing-adversarial, analysis/latex_new/our_*_certified_outer_envelop,
# the numbers of the paper's tables): certified accuracy over each radius's best model, 2 decimals.
SMOOTHADV_IMAGENET = {0.5: 0.56, 1.0: 0.45, 1.5: 0.38, 2.0: 0.28, 2.5: 0.26, 3.0: 0.20, 3.5: 0.17}
SMOOTHADV_CIFAR10 = {0.25: 0.73, 0.5: 0.58, 0.75: 0.48, 1.0: 0.38, 1.25: 0.33, 1.5: 0.29, 1.75: 0.24, 2.0: 0.18, 2.25: 0.16}


def test_smoothadv_envelopes_against_the_authors_tables():
    """ImageNet (the same 500 images): equal to 2 decimals. CIFAR-10: the authors took each radius's best of their
    14 best models; ours is the best of all 474 released logs without extra data, so never below theirs and at
    most 1.5 points above (0.194 against 0.18 at r = 2.0, 0.736 against 0.73 at 0.25: sweep models they did not
    list)."""
    board = pd.read_csv(REPOSITORY / "results" / BENCHMARKS_FILE, keep_default_na=False, na_values=[""])
    smoothadv = board[(board["kind"] == ENVELOPE) & (board["source"] == "salman2019") & (board["method"] == "SmoothAdv")
                      & board["extra_data"].isna()].set_index("benchmark")
    imagenet = smoothadv.loc["imagenet-paper"]
    assert {r: round(imagenet[f"r={r:g}"], 2) for r in SMOOTHADV_IMAGENET} == SMOOTHADV_IMAGENET
    cifar = smoothadv.loc["cifar10-paper"]
    for radius, theirs in SMOOTHADV_CIFAR10.items():
        assert theirs - 0.005 <= cifar[f"r={radius:g}"] <= theirs + 0.015, radius
