"""PREDICT and CERTIFY of Cohen, Rosenfeld & Kolter (ICML 2019), Algorithms 1 and 2.

`Smooth` is a drop-in replacement for the reference implementation's ``core.Smooth``:
same constructor, ``predict(x, n, alpha, batch_size)`` and ``certify(x, n0, n, alpha, batch_size)``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from smoothing.sampler import FastPath, NoiseSampler, noise_tail_gap
from smoothing.statistics import binomial_pvalue, check_alpha, clopper_pearson_lower, gaussian_radius

ABSTAIN = -1


@dataclass(frozen=True)
class Certificate:
    """What CERTIFY knows about one input: enough for any guarantee built on the same counts."""

    prediction: int  # cA, or ABSTAIN
    radius: float  # sigma * PhiInv(p_a_lower), 0 on abstain
    p_a_lower: float  # (1 - alpha) lower bound on P(f(x + e) = cA): Clopper-Pearson minus noise_gap
    top_class: int  # cA chosen from the selection counts, also when abstaining
    counts: np.ndarray  # estimation counts, one per class, summing to n
    n0: int
    n: int
    alpha: float
    sigma: float
    seconds: float  # wall time of this input's share of the sampling
    noise_gap: float  # bound on |P(f(x + e_drawn) = c) - P(f(x + e) = c)|: smoothing.sampler.noise_tail_gap
    score_sums: np.ndarray | None = None  # sum of softmax scores over the same n samples, when asked for

    @property
    def count_a(self) -> int:
        return int(self.counts[self.top_class])


def check_sample_sizes(n: int, batch_size: int, n0: int | None = None) -> None:
    if n < 1 or batch_size < 1:
        raise ValueError(f"n and batch_size must be positive, got n={n}, batch_size={batch_size}")
    if n0 is not None and not 1 <= n0 <= n:
        raise ValueError(
            f"n0 must lie in [1, n]: n0={n0}, n={n}; n0 selection samples only pick the class "
            "(the paper: n0=100, n=100,000)"
        )


class Smooth:
    """The smoothed classifier g(x) = argmax_c P(f(x + e) = c), e ~ N(0, sigma^2 I)."""

    ABSTAIN = ABSTAIN

    def __init__(
        self,
        base_classifier: nn.Module,
        num_classes: int,
        sigma: float,
        *,
        fast_path: FastPath = FastPath(),
        seed: int | None = None,
        input_shape: tuple[int, ...] | None = None,
    ):
        self.base_classifier = base_classifier
        self.num_classes = num_classes
        self.sigma = float(sigma)
        self.sampler = NoiseSampler(
            base_classifier, num_classes, sigma, fast_path=fast_path, seed=seed, input_shape=input_shape,
        )

    def manual_seed(self, seed: int) -> None:
        """Restart the noise stream from `seed`: the same seed draws the same noise, hence the same counts."""
        self.sampler.manual_seed(seed)

    def counts(self, xs: torch.Tensor, n: int, batch_size: int) -> np.ndarray:
        """Votes of n fresh noisy samples of each image of xs (B, C, H, W), shaped (B, num_classes):
        counts[i, c] = #{j : argmax f(x_i + e_j) = c}."""
        check_sample_sizes(n, batch_size)
        self.base_classifier.eval()
        return self.sampler.counts(xs, n, batch_size)

    def score_sums(self, xs: torch.Tensor, n: int, batch_size: int) -> np.ndarray:
        """Sums of softmax scores over n noisy samples of each image of xs (B, C, H, W), shaped
        (B, num_classes): PixelDP's estimator (baselines.pixeldp)."""
        check_sample_sizes(n, batch_size)
        self.base_classifier.eval()
        return self.sampler.tally(xs, n, batch_size, scores=True)[1]

    @staticmethod
    def one_image(x: torch.Tensor) -> torch.Tensor:
        """x (C, H, W) as a batch of one; the sampler checks shape and pixels on every call."""
        if not isinstance(x, torch.Tensor) or x.dim() != 3:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"expected one image shaped (C, H, W), got {shape}; use certify_batch for a batch")
        return x.unsqueeze(0)

    def predict(self, x: torch.Tensor, n: int, alpha: float, batch_size: int) -> int:
        """Algorithm 1: the top class of n noisy votes, or ABSTAIN unless a two-sided binomial test
        of nA against nA + nB at p = 1/2 rejects at level alpha (then P(wrong answer) <= alpha)."""
        check_alpha(alpha)
        check_sample_sizes(n, batch_size)
        counts = self.counts(self.one_image(x), n, batch_size)[0]
        top2 = counts.argsort()[::-1][:2]
        count_a, count_b = int(counts[top2[0]]), int(counts[top2[1]])
        if binomial_pvalue(count_a, count_a + count_b, 0.5) > alpha:
            return ABSTAIN
        return int(top2[0])

    def certify(self, x: torch.Tensor, n0: int, n: int, alpha: float, batch_size: int) -> tuple[int, float]:
        """Algorithm 2 for one image: (prediction, radius), (ABSTAIN, 0.0) when pA_lower < 1/2."""
        certificate = self.certify_batch(self.one_image(x), n0, n, alpha, batch_size)[0]
        return certificate.prediction, certificate.radius

    def certify_batch(
        self, xs: torch.Tensor, n0: int, n: int, alpha: float, batch_size: int, *, score_sums: bool = False
    ) -> list[Certificate]:
        """Algorithm 2 (CERTIFY) for each image of xs (B, C, H, W), images packed into shared batches.

        cA = argmax of n0 selection counts; nA = votes for cA among n fresh samples;
        pA_lower = LowerConfBound(nA, n, 1 - alpha) - gap; abstain if pA_lower < 1/2,
        else radius = sigma * PhiInv(pA_lower). The gap (smoothing.sampler.noise_tail_gap, 2.2e-8 for a
        CIFAR-10 image) bounds how far the drawn noise's vote probabilities can lie from the Gaussian's.
        With `score_sums`, the n estimation samples also give each image's softmax score sums.
        """
        check_alpha(alpha)
        check_sample_sizes(n, batch_size, n0)
        self.base_classifier.eval()
        started = time.perf_counter()
        top_class = self.counts(xs, n0, batch_size).argmax(axis=1)
        counts, sums = self.sampler.tally(xs, n, batch_size, scores=score_sums)
        count_a = counts[np.arange(len(xs)), top_class]
        gap = noise_tail_gap(xs[0].numel())
        p_a_lower = np.maximum(clopper_pearson_lower(count_a, n, alpha) - gap, 0.0)
        radius = gaussian_radius(self.sigma, p_a_lower)
        seconds = (time.perf_counter() - started) / len(xs)
        return [
            Certificate(
                prediction=int(top_class[i]) if p_a_lower[i] >= 0.5 else ABSTAIN,
                radius=float(radius[i]),
                p_a_lower=float(p_a_lower[i]),
                top_class=int(top_class[i]),
                counts=counts[i],
                n0=n0,
                n=n,
                alpha=alpha,
                sigma=self.sigma,
                seconds=seconds,
                noise_gap=gap,
                score_sums=None if sums is None else sums[i],
            )
            for i in range(len(xs))
        ]
