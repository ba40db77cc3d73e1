"""Two gloo processes under torchrun shard a suite; their rows together equal a single-process run."""
import subprocess
import sys

import pandas as pd

from bench.records import read_run
from bench.runner import run_suite
from bench.suite import load_suite
from smoothing.architectures import create_architecture
from smoothing.checkpoints import save_checkpoint

SUITE = """
name = "sharded"
dataset = "cifar10-embedded"
skip = 125
certifiers = ["gaussian", "pixeldp", "lipschitz-margin"]
n0 = 10
n = 50
alpha = 0.01
batch = 30
seed = 5

[[models]]
name = "inline-resnet20"
dataset = "cifar10"
checkpoint = "CHECKPOINT"
train_sigma = 0.25
sigmas = [0.25, 0.5]
"""


def test_two_gloo_processes_equal_one(tmp_path):
    checkpoint = tmp_path / "model.pth.tar"
    save_checkpoint(checkpoint, create_architecture("cifar_resnet20", "cifar10"), "cifar_resnet20")
    suite_file = tmp_path / "sharded.toml"
    suite_file.write_text(SUITE.replace("CHECKPOINT", str(checkpoint)))
    single = read_run(run_suite(load_suite(str(suite_file)), tmp_path / "single" / "runs", device="cpu"))

    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
               "-m", "bench.cli", "run", str(suite_file), "--results", str(tmp_path / "sharded"),
               "--device", "cpu"]
    finished = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr[-3000:]
    rank_files = sorted((tmp_path / "sharded" / "runs" / "sharded").glob("*.tsv"))
    assert [p.name for p in rank_files] == ["cpu-fp32.rank0-of-2.tsv", "cpu-fp32.rank1-of-2.tsv"]
    ranks = [read_run(p) for p in rank_files]
    assert all(len(r) > 0 for r in ranks)
    key = ["model", "certifier", "sigma", "idx"]
    # Everything but timing, code version and the device string (torchrun gives each rank one thread).
    order = lambda f: f.drop(columns=["seconds", "code_version", "device"]).sort_values(key).reset_index(drop=True)
    assert order(pd.concat(ranks)).equals(order(single))
    assert (tmp_path / "sharded" / "leaderboard.md").is_file()  # rank 0 regenerated it after the barrier
