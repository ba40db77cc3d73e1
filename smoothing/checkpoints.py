"""Checkpoints in the reference's format: a dict with 'arch' and 'state_dict' (keys of
Sequential(NormalizeLayer, net), i.e. '1.<net>...'), plus 'epoch', 'optimizer' and our own 'dataset',
'noise_sd'. Reads the reference's released checkpoints unchanged (ImageNet ones carry DataParallel's
'module.' prefix) and bare state dicts such as Idelbayev's. A checkpoint is untrusted input: it is
always read with torch.load(weights_only=True).
"""
from __future__ import annotations

import hashlib
import os
import pickle
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from smoothing.architectures import architecture_names, create_architecture


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message names the file and the fix."""


def checkpoint_sha256(path: str | os.PathLike) -> str:
    """The sha256 of a checkpoint file's bytes: its weights' fingerprint in a run's resume settings."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}; pass the path of a checkpoint.pth.tar")
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}; pass the path of a checkpoint.pth.tar")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise CheckpointError(
            f"{path} holds objects that safe loading (weights_only=True) refuses, so it is not loaded: {error}"
        ) from error
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError, KeyError, IndexError, TypeError,
            AttributeError, UnicodeDecodeError) as error:  # what torch.load raises on text and other non-checkpoints
        raise CheckpointError(f"{path} is corrupt or not a PyTorch checkpoint ({type(error).__name__}: {error}); "
                              "save it again") from error
    if not isinstance(checkpoint, dict):
        raise CheckpointError(f"{path} holds a {type(checkpoint).__name__}, expected a dict with a state_dict")
    return checkpoint


def _state_dict(checkpoint: dict[str, Any], path: Path) -> dict[str, torch.Tensor]:
    state = checkpoint.get("state_dict", checkpoint)
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path} has no 'state_dict' of tensors")
    return state


def _match_keys(state: dict[str, torch.Tensor], expected: set[str]) -> OrderedDict[str, torch.Tensor]:
    """Drop DataParallel's 'module.' segments and add the Sequential's '1.' where a bare net was saved."""
    out = OrderedDict()
    for key, value in state.items():
        key = key.replace("module.", "")
        if key not in expected and f"1.{key}" in expected:
            key = f"1.{key}"
        out[key] = value
    return out


def load_checkpoint(
    path: str | os.PathLike, dataset: str, arch: str | None = None, device: str | torch.device = "cpu"
) -> tuple[nn.Sequential, dict[str, Any]]:
    """(model in eval mode on `device`, checkpoint dict). `arch` overrides/replaces the stored one."""
    path = Path(path)
    checkpoint = read_checkpoint(path)
    arch = arch or checkpoint.get("arch")
    if arch is None:
        raise CheckpointError(
            f"{path} does not name its architecture; pass --arch (one of {', '.join(architecture_names())})"
        )
    if not isinstance(arch, str):
        raise CheckpointError(f"{path} names its architecture as a {type(arch).__name__}, not a name; pass --arch (one "
                              f"of {', '.join(architecture_names())})")
    if "dataset" in checkpoint and not isinstance(checkpoint["dataset"], str):
        raise CheckpointError(f"{path} names its dataset as a {type(checkpoint['dataset']).__name__}, not a name; save "
                              "it again")
    model = create_architecture(arch, checkpoint.get("dataset", dataset))
    expected = set(model.state_dict())
    state = _match_keys(_state_dict(checkpoint, path), expected)
    # Old BatchNorm state dicts have no step counters; they do not affect eval-mode outputs.
    missing = sorted(k for k in expected - set(state) if not k.endswith("num_batches_tracked"))
    unexpected = sorted(set(state) - expected)
    if missing or unexpected:
        raise CheckpointError(
            f"{path} does not fit architecture {arch!r}: missing {missing[:3]}{'...' if len(missing) > 3 else ''}, "
            f"unexpected {unexpected[:3]}{'...' if len(unexpected) > 3 else ''}; check --arch"
        )
    try:
        model.load_state_dict(state, strict=False)  # keys were checked above
    except RuntimeError as error:
        raise CheckpointError(f"{path} does not fit architecture {arch!r}: {error}") from error
    return model.to(device).eval(), checkpoint


def save_checkpoint(path: str | os.PathLike, model: nn.Module, arch: str, **fields: Any) -> None:
    """Write {'arch', 'state_dict', **fields} atomically (a killed save never leaves a torn file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    torch.save({"arch": arch, "state_dict": model.state_dict(), **fields}, partial)
    os.replace(partial, path)


TRAINING_STATE = ("optimizer", "scheduler")  # what only a resumed training needs


def export_weights(source: str | os.PathLike, destination: str | os.PathLike) -> None:
    """A training checkpoint without its optimizer and scheduler state: the trained model and its recipe
    fields (arch, epoch, dataset, noise, config, ...), a third of the size with Adam's two moments."""
    checkpoint = read_checkpoint(source)
    destination = Path(destination)
    partial = destination.with_name(destination.name + ".partial")
    torch.save({key: value for key, value in checkpoint.items() if key not in TRAINING_STATE}, partial)
    os.replace(partial, destination)
