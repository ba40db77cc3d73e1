"""Soundness audits on real models: strong l2 attacks inside certified radii must never succeed.

* Lipschitz margin: PGD with random restarts on the base classifier, at 0.999 x each certified radius
  (and at a larger multiple, which shows the attack can succeed when the claim allows it).
* Gaussian smoothing: PGD on the smoothed soft classifier, -log E_e softmax(f(x' + e))_y estimated
  with fresh noise at every step (Salman et al., NeurIPS 2019), at 0.99 x the certified radius; the
  attacked point is then classified by PREDICT, which must not return another class (an abstention
  is not a change of answer; a different class would be a certificate failure, possible only with
  probability <= alpha per image).
Attacks stay in the pixel box [0, 1], where the certificates are checked.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F
from tabulate import tabulate
from torch import nn

from baselines.lipschitz import LipschitzCertifier, lipschitz_report
from bench.commands import (
    add_image_flags,
    add_setting_flags,
    non_negative_float,
    positive_float,
    positive_int,
    write_csv,
)
from bench.runner import selected_images
from smoothing.checkpoints import load_checkpoint
from smoothing.core import ABSTAIN, Smooth
from smoothing.datasets import create_dataset, dataset_info
from smoothing.sampler import image_seed


def _project(delta: torch.Tensor, x: torch.Tensor, radius: torch.Tensor) -> torch.Tensor:
    """delta scaled into the l2 ball of each image's radius, then x + delta clipped to [0, 1]."""
    norms = delta.flatten(1).norm(dim=1).clamp(min=1e-12)
    delta = delta * (radius / norms).clamp(max=1.0).view(-1, *[1] * (x.dim() - 1))
    return (x + delta).clamp(0.0, 1.0) - x


def _unit(gradient: torch.Tensor) -> torch.Tensor:
    return gradient / gradient.flatten(1).norm(dim=1).clamp(min=1e-12).view(-1, *[1] * (gradient.dim() - 1))


def pgd_base(model: nn.Module, x: torch.Tensor, target: torch.Tensor, radius: torch.Tensor, steps: int = 100,
             restarts: int = 10, generator: torch.Generator | None = None) -> torch.Tensor:
    """Per image, whether any of `restarts` PGD runs (random start in the ball, margin loss, step radius / 4
    decaying to radius / 100) finds a point within `radius` that the model does not classify as `target`."""
    fooled = torch.zeros(len(x), dtype=torch.bool)
    for _ in range(restarts):
        start = torch.randn(x.shape, generator=generator)
        delta = _project(_unit(start) * radius.view(-1, 1, 1, 1) * torch.rand(len(x), 1, 1, 1, generator=generator),
                         x, radius)
        for step in range(steps):
            delta.requires_grad_(True)
            logits = model(x + delta)
            others = logits.masked_fill(F.one_hot(target, logits.shape[1]).bool(), float("-inf"))
            loss = (others.max(1).values - logits.gather(1, target[:, None])[:, 0]).sum()  # > 0: fooled
            (gradient,) = torch.autograd.grad(loss, delta)
            size = radius.view(-1, 1, 1, 1) * (0.25 * (0.04 ** (step / max(steps - 1, 1))))
            with torch.no_grad():
                fooled |= logits.argmax(1) != target
                delta = _project(delta + size * _unit(gradient), x, radius)
        with torch.no_grad():
            fooled |= model(x + delta).argmax(1) != target
    return fooled


def audit_lipschitz(certifier: LipschitzCertifier, images: torch.Tensor, labels: torch.Tensor, indices: list[int],
                    beyond: float = 3.0, steps: int = 100, restarts: int = 10, seed: int = 0) -> pd.DataFrame:
    """One row per correctly certified image: radius, fooled within 0.999 R (must be False), fooled within
    `beyond` x R (the attack's strength)."""
    model = certifier.model.eval()
    predictions, radii = certifier.certify(images)
    keep = (radii > 0) & (predictions.cpu() == labels)
    x, target, radius = images[keep], predictions[keep].cpu(), radii[keep].float().cpu()
    generator = torch.Generator().manual_seed(seed)
    inside = pgd_base(model, x, target, 0.999 * radius, steps, restarts, generator)
    outside = pgd_base(model, x, target, beyond * radius, steps, restarts, generator)
    return pd.DataFrame(dict(idx=[indices[i] for i in torch.nonzero(keep)[:, 0].tolist()], label=target.tolist(),
                             radius=radius.tolist(), fooled_within_radius=inside.tolist(),
                             **{f"fooled_within_{beyond:g}x_radius": outside.tolist()}))


def pgd_smoothed(smoothed: Smooth, x: torch.Tensor, target: int, radius: float, steps: int = 20,
                 samples: int = 16, generator: torch.Generator | None = None) -> torch.Tensor:
    """x' with ||x' - x|| <= radius in [0, 1] that lowers E_e softmax(f(x' + e))_target (Salman et al. 2019):
    each step averages the soft prediction over `samples` fresh noise draws."""
    model, sigma = smoothed.base_classifier.eval(), smoothed.sigma
    delta = torch.zeros_like(x)[None]
    bound = torch.tensor([radius])
    for _ in range(steps):
        delta.requires_grad_(True)
        noisy = (x + delta) + sigma * torch.randn((samples, *x.shape), generator=generator)
        soft = F.softmax(model(noisy), dim=1).mean(0)
        loss = -torch.log(soft[target].clamp(min=1e-12))
        (gradient,) = torch.autograd.grad(loss, delta)
        with torch.no_grad():
            delta = _project(delta + (radius / 4) * _unit(gradient), x[None], bound)
    return (x + delta.detach()[0]).clamp(0.0, 1.0)


def audit_smoothing(smoothed: Smooth, images: list[torch.Tensor], labels: list[int], indices: list[int],
                    n0: int, n: int, alpha: float, batch: int, predict_n: int, beyond: float = 2.0,
                    steps: int = 20, samples: int = 16, seed: int = 0, certified: int | None = None) -> pd.DataFrame:
    """One row per correctly certified image (the first `certified` of them, if given): CERTIFY's radius R,
    then PREDICT on the attacked point at 0.99 R (must never be another class) and at `beyond` x R (the
    attack's strength)."""
    generator = torch.Generator().manual_seed(seed)
    rows = []
    for x, label, idx in zip(images, labels, indices):
        if certified is not None and len(rows) == certified:
            break
        smoothed.manual_seed(image_seed(seed, idx))
        prediction, radius = smoothed.certify(x, n0, n, alpha, batch)
        if prediction != label or radius <= 0:
            continue
        row = dict(idx=idx, label=label, radius=radius)
        for name, scale in (("within_radius", 0.99), (f"within_{beyond:g}x_radius", beyond)):
            attacked = pgd_smoothed(smoothed, x, prediction, scale * radius, steps, samples, generator)
            answer = smoothed.predict(attacked, predict_n, alpha, batch)
            row[f"predict_{name}"] = answer
            row[f"changed_{name}"] = answer not in (prediction, ABSTAIN)
            row[f"distance_{name}"] = (attacked - x).norm().item()
        rows.append(row)
    return pd.DataFrame(rows)


def stacked_images(data: torch.utils.data.Dataset, positions: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """The images at `positions` as one batch, and their labels."""
    return torch.stack([data[p][0] for p in positions]), torch.tensor([data[p][1] for p in positions])


def lipschitz_command(args: argparse.Namespace) -> None:
    info = dataset_info(args.dataset)
    data = create_dataset(args.dataset, args.split, args.data_root)
    positions = [position for position, _ in selected_images(data, args.skip, args.max)]
    images, labels = stacked_images(data, positions)
    rows = []
    for path in args.checkpoints:
        model, checkpoint = load_checkpoint(path, args.dataset, args.arch)
        certifier = LipschitzCertifier.for_model(model, info.input_shape)
        rows.append(dict(checkpoint=str(path), arch=args.arch or checkpoint.get("arch", ""),
                         lmt_c=checkpoint.get("lmt_c", ""), epoch=checkpoint.get("epoch", ""), dataset=args.dataset,
                         **lipschitz_report(certifier, images, labels, args.radii)))
    frame = pd.DataFrame(rows)
    print(tabulate(frame.drop(columns=["dataset"]), headers="keys", tablefmt="github", showindex=False, floatfmt=".4g"))
    if args.out:
        write_csv(frame, Path(args.out))

def audit_command(args: argparse.Namespace) -> None:
    info = dataset_info(args.dataset)
    data = create_dataset(args.dataset, args.split, args.data_root)
    positions, official = zip(*selected_images(data, args.skip, args.max))
    model, _ = load_checkpoint(args.checkpoint, args.dataset, args.arch)
    if args.method == "lipschitz-margin":
        images, labels = stacked_images(data, positions)
        frame = audit_lipschitz(LipschitzCertifier.for_model(model, info.input_shape), images, labels, official,
                                steps=args.steps, restarts=args.restarts, seed=args.seed)
        inside = "fooled_within_radius"
    else:
        if args.sigma is None:
            raise ValueError("audit gaussian needs --sigma, the noise level of the smoothed classifier")
        smoothed = Smooth(model, info.num_classes, args.sigma, input_shape=info.input_shape)
        frame = audit_smoothing(smoothed, [data[p][0] for p in positions], [data[p][1] for p in positions], official,
                                args.n0, args.n, args.alpha, args.batch, args.predict_n, steps=args.steps,
                                samples=args.samples, seed=args.seed, certified=args.certified)
        inside = "changed_within_radius"
    print(tabulate(frame, headers="keys", tablefmt="github", showindex=False, floatfmt=".4g"))
    print(f"{len(frame)} certified images attacked; successes inside the certified radius: {int(frame[inside].sum())}")
    if args.out:
        write_csv(frame, Path(args.out))
    if frame[inside].any():
        raise ValueError(f"an attack succeeded inside a certified radius (rows with {inside} = True): a soundness bug")


def add_commands(commands: argparse._SubParsersAction) -> None:
    lipschitz = commands.add_parser(
        "lipschitz", help="Lipschitz-margin certification of checkpoints: sound bound, estimate, certified accuracy")
    lipschitz.add_argument("checkpoints", nargs="+")
    add_image_flags(lipschitz)
    lipschitz.add_argument("--radii", type=non_negative_float, nargs="+", default=[0.0, 36 / 255, 0.25, 0.5],
                           help="radii of the certified accuracy (default 0, 36/255, 0.25, 0.5)")
    lipschitz.add_argument("--out", help="write the rows to this CSV file")
    lipschitz.set_defaults(handler=lipschitz_command)
    audit = commands.add_parser("audit", help="attack certified images inside their radius (soundness audit)")
    audit.add_argument("method", choices=["lipschitz-margin", "gaussian"])
    audit.add_argument("checkpoint")
    audit.add_argument("--sigma", type=positive_float, help="noise level (gaussian)")
    add_image_flags(audit)
    audit.add_argument("--steps", type=positive_int, default=100, help="PGD steps (gaussian: 20 is plenty)")
    audit.add_argument("--restarts", type=positive_int, default=10, help="random restarts (lipschitz-margin)")
    audit.add_argument("--samples", type=positive_int, default=16, help="noise draws per PGD step (gaussian)")
    audit.add_argument("--certified", type=positive_int, help="stop after this many certified images (gaussian)")
    add_setting_flags(audit, ["n0", "n", "alpha", "batch", "seed"])  # CERTIFY's (gaussian)
    audit.add_argument("--predict-n", "--predict-N", type=positive_int, default=10_000,
                       help="PREDICT samples on the attacked point")
    audit.add_argument("--out", help="write the rows to this CSV file")
    audit.set_defaults(handler=audit_command)
