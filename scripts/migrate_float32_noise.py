"""Lower the committed runs certified with float32 noise by its tail gap (bench.migrations), once:

    python scripts/migrate_float32_noise.py results/runs/cifar10-jpeg-first500/cpu-fp32.tsv cpu

Rewrites the run file atomically (same header and settings, so a later `smoothbench run` still resumes it)
and records the migration in <run-id>.manifest.json; a file already migrated is left alone.
"""
from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path

from bench.migrations import float32_noise_gap, lower_for_float32_noise
from bench.records import RUN_COLUMNS, encode_row, read_run, run_label
from smoothing.datasets import dataset_info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a run file <results>/runs/<suite>/<run-id>.tsv")
    parser.add_argument("device_type", choices=["cpu", "cuda"], help="where its float32 noise was drawn")
    args = parser.parse_args()
    manifest_path = args.run.parent / f"{run_label(args.run).split('/')[1]}.manifest.json"
    manifest = json.loads(manifest_path.read_text())
    if "noise_migration" in manifest:
        print(f"{args.run}: migrated already ({manifest['noise_migration']['what']})")
        return
    rows = read_run(args.run)
    dimension = math.prod(dataset_info(rows["dataset"].iloc[0]).input_shape)
    lowered = lower_for_float32_noise(rows, dimension, args.device_type)
    partial = args.run.with_name(args.run.name + ".partial")
    with open(partial, "w", newline="") as f:
        f.write("\t".join(RUN_COLUMNS) + "\n")
        for values in lowered.to_dict("records"):
            f.write("\t".join(encode_row(values)) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(partial, args.run)
    gap = float32_noise_gap(dimension, args.device_type)
    changed = int((lowered["radius"] != rows["radius"]).sum())
    manifest["noise_migration"] = dict(
        what=f"radii lowered for the float32 noise's tail gap {gap:.3g} ({args.device_type}; bench.migrations)",
        gap=gap, rows_changed=changed, largest_change=float((rows["radius"] - lowered["radius"]).max()))
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"{args.run}: {changed} of {len(rows)} radii lowered, by at most {manifest['noise_migration']['largest_change']:.3g}")


if __name__ == "__main__":
    main()
