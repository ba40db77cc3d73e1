"""Models the suites name: architecture, checkpoint and how they were trained, behind a registry."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from smoothing.registry import Registry


@dataclass(frozen=True)
class ModelSpec:
    name: str
    dataset: str  # the dataset family its normalisation and classes follow
    checkpoint: Path
    arch: str | None = None  # None: the checkpoint names it
    train_sigma: float = 0.0
    method: str = "gaussian_noise"
    architecture: str = ""  # provenance, shown beside results: the network in words,
    trained_on: str = ""  # its training data and noise,
    recipe: str = ""  # the command or script that made the checkpoint,
    source: str = ""  # and who made it,
    training_device: str = ""  # on what hardware (its training time is read from the log beside the checkpoint)


CPU_2_CORES = "2-core CPU (AMD EPYC)"

MODELS: Registry[ModelSpec] = Registry("model", "bench.models")
register_model = MODELS.register


def create_model_spec(name: str) -> ModelSpec:
    return MODELS.create(name)


def checkpoints_root() -> Path:
    """The committed checkpoints (results/checkpoints/, data only), installed with smoothbench as the namespace
    package smoothbench_checkpoints: its folder, in a source checkout or an installed copy."""
    import smoothbench_checkpoints

    return next(Path(place) for place in smoothbench_checkpoints.__path__ if Path(place).is_dir())


def models_root() -> Path:
    """Where downloaded checkpoints live: $SMOOTHBENCH_MODELS (default ./models)."""
    return Path(os.environ.get("SMOOTHBENCH_MODELS", "models"))
