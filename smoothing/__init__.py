"""Gaussian randomized smoothing (Cohen, Rosenfeld & Kolter, ICML 2019)."""
from smoothing.architectures import create_architecture
from smoothing.checkpoints import load_checkpoint, save_checkpoint
from smoothing.core import ABSTAIN, Certificate, Smooth
from smoothing.datasets import create_dataset, dataset_info
from smoothing.sampler import FastPath

__all__ = [
    "ABSTAIN", "Certificate", "FastPath", "Smooth", "create_architecture", "create_dataset", "dataset_info",
    "load_checkpoint", "save_checkpoint",
]
