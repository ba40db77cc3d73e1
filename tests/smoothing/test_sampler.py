"""The sampler (smoothing.sampler): exact votes of the plain loop, packed images, noise with the theorem's tails."""
import sys
import warnings

import numpy as np
import pytest
import torch
from scipy.stats import binom, norm
from torch import nn

from smoothing.core import Smooth
from smoothing.sampler import NOISE_DTYPE, FastPath, NoiseSampler, image_seed
from tests.helpers import cuda_conv_net


def test_nan_pixels(smoothed):
    x = torch.rand(1, 8, 8)
    x[0, 1, 2] = float("nan")
    with pytest.raises(ValueError, match="NaN or infinite pixels"):
        smoothed.certify(x, 10, 100, 0.001, 10)


def test_wrong_image_size(smoothed):
    with pytest.raises(ValueError, match=r"the model expects images shaped \(1, 8, 8\)"):
        smoothed.certify_batch(torch.rand(2, 1, 5, 5), 10, 100, 0.001, 10)


class TenLogits(torch.nn.Module):
    """A 10-class model on (1, 8, 8) images whose logits can be made non-finite."""

    def __init__(self, scale: float = 1.0):
        super().__init__()
        self.linear = torch.nn.Linear(64, 10)
        self.linear.weight.data.mul_(scale)

    def forward(self, x):
        return self.linear(x.flatten(1))


def test_logits_wider_than_num_classes_are_refused():
    """With num_classes = 2 and 10 logits, votes for classes 2..9 used to land in the next image's counts
    (two images' counts summing to 2n, the wrong image certified)."""
    smoothed = Smooth(TenLogits(), 2, 0.25, seed=0)
    with pytest.raises(ValueError, match=r"logits shaped \(20, 10\), expected \(batch, 2\) for num_classes = 2"):
        smoothed.certify_batch(torch.rand(2, 1, 8, 8), 10, 20, 0.001, 40)
    with pytest.raises(ValueError, match="expected \\(batch, 20\\)"):
        Smooth(TenLogits(), 20, 0.25).predict(torch.rand(1, 8, 8), 20, 0.001, 40)


def test_nan_weights_certify_nothing():
    model = TenLogits()
    model.linear.weight.data[3, 5] = float("nan")
    smoothed = Smooth(model, 10, 0.25, seed=0)
    for call in (lambda x: smoothed.certify(x, 10, 100, 0.001, 50), lambda x: smoothed.predict(x, 100, 0.001, 50),
                 lambda x: smoothed.sampler.tally(x[None], 100, 50, scores=True)):
        with pytest.raises(ValueError, match=r"NaN or infinite logits on (10|100) of \1 noisy inputs"):
            call(torch.rand(1, 8, 8))


def test_noise_that_overflows_certifies_nothing():
    """sigma = 1e300 used to certify a radius of 1e300: float32 noise overflows to inf and the logits to NaN."""
    with pytest.raises(ValueError, match="overflows float32 noise"):
        Smooth(TenLogits(), 10, 1e300)
    with pytest.raises(ValueError, match="NaN or infinite logits"):  # finite noise, overflowing logits
        Smooth(TenLogits(scale=1e10), 10, 1e30, seed=0).certify(torch.rand(1, 8, 8), 10, 100, 0.001, 50)


@pytest.mark.parametrize("image,message", [
    ((torch.rand(1, 8, 8) * 255).to(torch.uint8), "images are torch.uint8, expected floating-point pixels in \\[0, 1\\]"),
    (torch.rand(1, 8, 8) * 255, "pixels must lie in \\[0, 1\\], got values from"),
    (torch.rand(1, 8, 8) - 0.5, "pixels must lie in \\[0, 1\\]"),
])
def test_pixels_outside_the_unit_range_are_refused(smoothed, image, message):
    with pytest.raises(ValueError, match=message):
        smoothed.certify(image, 10, 100, 0.001, 10)
    with pytest.raises(ValueError, match=message):
        smoothed.predict(image, 100, 0.001, 10)


def synchronizations(run) -> int:
    """Host-device synchronizations during run(), as counted by CUDA's sync debug mode."""
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("warn")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            run()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    return sum("synchroniz" in str(w.message) for w in caught)


@pytest.mark.cuda
def test_no_host_sync_per_batch():
    """The sampler syncs a fixed number of times per call (the final copy of the counts), not per batch."""
    sampler, x = NoiseSampler(cuda_conv_net(), 10, 0.25, seed=0), torch.rand(1, 3, 8, 8)
    sampler.counts(x, 100, 50)  # warm-up
    few = synchronizations(lambda: sampler.counts(x, 2 * 50, 50))
    many = synchronizations(lambda: sampler.counts(x, 40 * 50, 50))
    assert many == few


@pytest.mark.cuda
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_compiled_cuda_graphs_count_like_eager(precision):
    model, x = cuda_conv_net(), torch.rand(2, 3, 8, 8)
    eager = NoiseSampler(model, 10, 0.5, fast_path=FastPath(precision), seed=3).counts(x, 1001, 256)
    compiled = NoiseSampler(model, 10, 0.5, fast_path=FastPath(precision, compile=True), seed=3).counts(x, 1001, 256)
    assert (compiled.sum(axis=1) == 1001).all()
    # Fused kernels may round differently, so a vote on a near-tie can flip; the counts stay within a few.
    assert np.abs(compiled - eager).max() <= 5


def conv_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 10)).eval()


class CountingForward(nn.Module):
    """Wraps a model and records the batch size of every call."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model, self.batch_sizes = model, []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.batch_sizes.append(x.shape[0])
        return self.model(x)


@pytest.mark.parametrize("num,batch", [(301, 128), (64, 64), (7, 100)])  # 602 rows: 5 batches of 121, 3 padded
def test_compiled_sampler_counts_like_eager(num, batch):
    """Same seed, same noise: compiling changes neither the draws nor which rows are counted (the padding)."""
    model, x = conv_net(), torch.rand(2, 3, 8, 8)
    eager = NoiseSampler(model, 10, 0.5, seed=5).counts(x, num, batch)
    compiled = NoiseSampler(model, 10, 0.5, fast_path=FastPath(compile=True), seed=5).counts(x, num, batch)
    assert (compiled.sum(axis=1) == num).all()
    np.testing.assert_array_equal(compiled, eager)


def test_compiled_sampler_keeps_one_batch_shape(monkeypatch):
    """300 samples in batches of at most 128: three equal batches of 100, so one compiled shape, no tail."""
    model = CountingForward(conv_net())
    monkeypatch.setattr(FastPath, "prepare", lambda self, module, device: module)  # count calls, compiled or not
    NoiseSampler(model, 10, 0.5, fast_path=FastPath(compile=True)).counts(torch.rand(1, 3, 8, 8), 300, 128)
    assert model.batch_sizes == [100, 100, 100]
    model.batch_sizes.clear()
    NoiseSampler(model, 10, 0.5, fast_path=FastPath(compile=False)).counts(torch.rand(1, 3, 8, 8), 300, 128)
    assert model.batch_sizes == [128, 128, 44]


def test_fast_path_labels_and_errors():
    assert FastPath().label() == "fp32"
    assert FastPath("bf16", channels_last=True, compile=True).label() == "bf16+channels_last+compile"
    with pytest.raises(ValueError, match="unknown precision 'int8'; choose one of fp32, bf16, fp16"):
        FastPath("int8")


def small_net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(32, 10)
    ).eval()


def plain_loop_counts(model: nn.Module, x: torch.Tensor, num: int, sigma: float, batch: int, seed: int) -> np.ndarray:
    """The reference's loop (repeat the image, fresh noise per batch, count on the host) with our noise:
    drawn in float64, added to the image, rounded once to float32."""
    generator, counts = torch.Generator().manual_seed(seed), np.zeros(10, dtype=np.int64)
    for size in [batch] * (num // batch) + [num % batch] * (num % batch > 0):
        noise = torch.randn((size, *x.shape), generator=generator, dtype=torch.float64) * sigma
        counts += np.bincount(model((x.double() + noise).float()).argmax(1).numpy(), minlength=10)
    return counts


@pytest.mark.parametrize("num,batch", [(250, 100), (100, 100), (37, 1000)])
def test_counts_match_reference_loop(num, batch):
    """Same seed, same batches: our in-place noise buffer gives exactly the plain loop's votes."""
    model, x = small_net(), torch.rand(3, 8, 8)
    ours = NoiseSampler(model, 10, 0.5, seed=123).counts(x[None], num, batch)[0]
    with torch.no_grad():
        np.testing.assert_array_equal(ours, plain_loop_counts(model, x, num, 0.5, batch, 123))
    assert ours.sum() == num


class ConstantImageClassifier(nn.Module):
    """Predicts round(4 x mean pixel): tells packed images apart when the noise is small."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return -(4 * x.mean(dim=(1, 2, 3))[:, None] - torch.arange(5.0)).abs()

    def parameters(self, recurse: bool = True):
        return iter([torch.zeros(1)])


@pytest.mark.parametrize("num,batch", [(7, 5), (5, 5), (3, 100), (11, 4)])
def test_packed_images_are_counted_separately(num, batch):
    images = (torch.arange(5.0) / 4)[:, None, None, None].expand(5, 1, 4, 4)
    counts = NoiseSampler(ConstantImageClassifier(), 5, 0.01, seed=0).counts(images, num, batch)
    np.testing.assert_array_equal(counts, num * np.eye(5, dtype=int))


@pytest.mark.parametrize("batch", [1, 7, 1000, 5000])
def test_batch_size_does_not_change_the_distribution(linear_model, batch):
    """On the linear model P(class 1) is known; the counts must be Binomial(n, p) whatever the batch."""
    sigma, num = 0.5, 3000
    x = torch.full((1, 1, 8, 8), 0.45)
    p = norm.cdf((x.flatten() @ linear_model.w + linear_model.b).item() / (sigma * linear_model.w.norm().item()))
    counts = NoiseSampler(linear_model, 2, sigma, seed=batch).counts(x, num, batch)[0]
    assert counts.sum() == num
    low, high = binom.interval(1 - 1e-6, num, p)
    assert low <= counts[1] <= high


def test_seeded_runs_repeat_and_image_seeds_differ():
    model, x = small_net(), torch.rand(1, 3, 8, 8)
    first = NoiseSampler(model, 10, 1.0, seed=9).counts(x, 500, 64)
    again = NoiseSampler(model, 10, 1.0, seed=9).counts(x, 500, 64)
    np.testing.assert_array_equal(first, again)
    assert image_seed(0, 1) != image_seed(0, 2) and image_seed(0, 1) == image_seed(0, 1)


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_reduced_precision_counts(precision):
    counts = NoiseSampler(small_net(), 10, 0.25, fast_path=FastPath(precision, channels_last=True), seed=0).counts(
        torch.rand(2, 3, 8, 8), 300, 128
    )
    assert counts.shape == (2, 10) and (counts.sum(axis=1) == 300).all()


def _peak_rss_since_reset() -> int:
    """Bytes of the process's peak resident set since the last reset (Linux)."""
    with open("/proc/self/status") as f:
        fields = dict(line.split(":", 1) for line in f)
    return int(fields["VmHWM"].split()[0]) * 1024


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self peak memory")
def test_memory_does_not_grow_with_n():
    """200,000 samples of a 1x16x16 image would be 205 MB if held at once; batches of 500 are 0.5 MB."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(256, 10)).eval()
    sampler = NoiseSampler(model, 10, 0.5, seed=0)
    x = torch.rand(1, 1, 16, 16)
    sampler.counts(x, 1000, 500)  # warm up allocator and kernels
    baseline = _peak_rss_since_reset()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the peak to the current resident set
    baseline = min(baseline, _peak_rss_since_reset())
    counts = sampler.counts(x, 200_000, 500)
    assert counts.sum() == 200_000
    assert _peak_rss_since_reset() - baseline < 50 * 2**20


@pytest.mark.parametrize("shape,independent", [((3, 32, 32), True), ((3, 4, 4), True), ((1, 2, 5), False)])
def test_noise_stream_and_batch_size(shape, independent):
    """The README's condition: the CPU noise stream is the same whatever the batch when each batch holds a
    multiple of 16 noise values (CIFAR-10 images: 3,072), and may differ otherwise."""
    def draw(batches):
        generator = torch.Generator().manual_seed(0)
        return torch.cat([torch.empty((rows, *shape), dtype=NOISE_DTYPE).normal_(generator=generator) for rows in batches])

    assert torch.equal(draw([8]), draw([3, 5])) == independent


class FlipsBeyond(nn.Module):
    """Class 1 where some coordinate of the input lies more than `threshold` sigma from the centre image,
    else class 0: under exact Gaussian noise P(class 1) = 1 - (1 - 2 Phi(-threshold))^d."""

    def __init__(self, centre: torch.Tensor, sigma: float, threshold: float):
        super().__init__()
        self.register_buffer("centre", centre)
        self.limit = threshold * sigma

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        beyond = ((x - self.centre).abs().flatten(1) > self.limit).any(dim=1).float()
        return torch.stack([1 - beyond, beyond], dim=1)


FLOAT32_CPU_LARGEST = float(np.sqrt(-2 * np.log(2.0**-24)))  # float32 Box-Muller's largest draw: 5.77


@pytest.mark.slow
def test_noise_beyond_the_float32_samplers_largest_draw_is_not_over_certified():
    """torch's float32 normal_ on the CPU never draws beyond 5.77 sigma (its uniforms sit on a 2^-24 grid),
    so a classifier that flips when some coordinate goes beyond never flipped: on a 224x224 RGB image,
    where P(flip) = 1.2e-3, CERTIFY with n = 5,000 counted 5,000 votes of 5,000 and certified
    3.12 sigma, above the true 3.03 sigma. The drawn noise must reach there, and the radius stay below."""
    from smoothing.core import Smooth

    shape, sigma, n, alpha = (3, 224, 224), 0.05, 5000, 0.01
    centre = torch.full(shape, 0.5)
    model = FlipsBeyond(centre, sigma, FLOAT32_CPU_LARGEST)
    p_flip = 1 - (1 - 2 * norm.sf(FLOAT32_CPU_LARGEST)) ** centre.numel()
    true_radius = sigma * norm.ppf(1 - p_flip)
    certificate = Smooth(model, 2, sigma, seed=0).certify_batch(centre[None], 100, n, alpha, 250)[0]
    assert certificate.prediction == 0 and 0 < certificate.counts[1]  # the drawn noise goes beyond 5.77 sigma
    assert certificate.radius <= true_radius
    float32_votes_for_0 = n  # what the float32 sampler counted: it never draws beyond, so the radius was
    assert sigma * norm.ppf(alpha ** (1 / float32_votes_for_0)) > true_radius  # over-certified


def test_the_noise_gap_is_subtracted_from_the_lower_bound(linear_model):
    """pA_lower is the Clopper-Pearson bound minus noise_tail_gap(d) (2^-36 per pair of coordinates)."""
    from smoothing.core import Smooth
    from smoothing.sampler import noise_tail_gap
    from smoothing.statistics import clopper_pearson_lower

    x = linear_model.points_at(torch.tensor([1.0]))
    certificate = Smooth(linear_model, 2, 0.5, seed=0).certify_batch(x, 10, 500, 0.01, 500)[0]
    assert certificate.noise_gap == noise_tail_gap(64) == 32 * 2.0**-36
    assert certificate.p_a_lower == clopper_pearson_lower(certificate.count_a, 500, 0.01) - certificate.noise_gap

