"""Lipschitz-margin certification (baselines.lipschitz): sound bounds, refusals of what the bound does not see, LMT training."""
import warnings

import pytest
import torch
from torch import nn
from torch.autograd.functional import jacobian

from baselines.lipschitz import LipschitzCertifier, PowerIteration, SoundBounds, sequence_lipschitz
from smoothing.architectures import NormalizeLayer
from smoothing.architectures.cifar_resnet import BasicBlock
from smoothing.architectures.idelbayev_resnet import OptionABlock


def exact_operator_norm(layer: nn.Module, shape) -> float:
    """||layer|| of a linear layer from its dense matrix (brute force)."""
    matrix = jacobian(lambda z: layer(z[None])[0], torch.zeros(shape, dtype=torch.float64)).reshape(-1, int(torch.tensor(shape).prod()))
    return torch.linalg.matrix_norm(matrix, ord=2).item()


@pytest.mark.parametrize("stride,padding,size", [(1, 1, 6), (2, 1, 7), (1, 0, 5), (2, 2, 6)])
def test_conv_bound_is_sound_and_estimate_is_tight(stride, padding, size):
    torch.manual_seed(stride * 10 + padding)
    conv = nn.Conv2d(3, 4, 3, stride=stride, padding=padding, bias=False).double()
    bn = nn.BatchNorm2d(4).double().eval()
    bn.weight.data.uniform_(-2, 2)
    bn.running_var.data.uniform_(0.1, 2)
    bound = SoundBounds().conv(conv, bn, (3, size, size)).item()
    with torch.no_grad():
        estimate = PowerIteration().conv(conv, bn, (3, size, size)).item()
    exact = exact_operator_norm(nn.Sequential(conv, BatchNormScale(bn)), (3, size, size))
    assert bound >= exact * (1 - 1e-9)
    assert estimate == pytest.approx(exact, rel=1e-3)


class BatchNormScale(nn.Module):
    """The linear part of an eval-mode batch norm (its shift does not change a Lipschitz constant)."""

    def __init__(self, bn: nn.BatchNorm2d):
        super().__init__()
        self.scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)

    def forward(self, x):
        return x * self.scale[:, None, None]


class TinyResNet(nn.Module):
    def __init__(self, block):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(),
                                  block(4, 4), block(4, 8, 2), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        return self.fc(self.body(x))


def random_model(block, seed):
    torch.manual_seed(seed)
    net = TinyResNet(block)
    for module in net.modules():  # non-trivial batch-norm statistics
        if isinstance(module, nn.BatchNorm2d):
            module.weight.data.uniform_(0.5, 1.5)
            module.running_mean.data.normal_()
            module.running_var.data.uniform_(0.5, 2.0)
    model = nn.Sequential(NormalizeLayer((0.5, 0.4, 0.3), (0.2, 0.25, 0.3)), nn.Sequential(*net.body, net.fc))
    return model.eval()


@pytest.mark.parametrize("block", [BasicBlock, OptionABlock])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bound_exceeds_local_gradients_and_secants(block, seed):
    model = random_model(block, seed)
    certifier = LipschitzCertifier.for_model(model, (3, 8, 8))
    bound = certifier.network.bound
    generator = torch.Generator().manual_seed(seed)
    for _ in range(5):
        x = torch.rand(3, 8, 8, generator=generator)
        local = torch.linalg.matrix_norm(jacobian(lambda z: model(z[None])[0], x).reshape(5, -1), ord=2).item()
        assert local <= bound
        d = torch.randn(3, 8, 8, generator=generator) * 0.1
        with torch.no_grad():
            secant = (model((x + d)[None]) - model(x[None])).norm() / d.norm()
        assert secant <= bound
    assert certifier.network.estimate <= bound


def pgd_l2(model, x, label, radius, steps=50):
    """Projected gradient ascent of the loss inside the l2 ball of radius[i] around each x[i]."""
    radius = radius[:, None, None, None]
    delta = torch.zeros_like(x, requires_grad=True)
    for _ in range(steps):
        loss = nn.functional.cross_entropy(model(x + delta), label)
        (grad,) = torch.autograd.grad(loss, delta)
        grad = grad / grad.flatten(1).norm(dim=1).clamp(min=1e-12)[:, None, None, None]
        with torch.no_grad():
            delta += radius / 4 * grad
            norms = delta.flatten(1).norm(dim=1).clamp(min=1e-12)
            delta *= (radius / norms[:, None, None, None]).clamp(max=1.0)
    return model(x + delta).argmax(1)


def test_certified_points_survive_pgd():
    """Small-weight model, so radii are large enough to attack; no certified prediction may flip."""
    torch.manual_seed(0)
    model = nn.Sequential(NormalizeLayer((0.5, 0.5, 0.5), (1.0, 1.0, 1.0)),
                          nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 36, 3))).eval()
    x = torch.rand(64, 3, 6, 6)
    predictions, radii = LipschitzCertifier.for_model(model, (3, 6, 6)).certify(x)
    assert (radii > 0).all()
    attacked = pgd_l2(model, x, predictions, radii.float() * 0.999)
    assert torch.equal(attacked, predictions)
    # The same attack at 20x the radius flips some: the test can tell a loose from a wrong bound.
    assert not torch.equal(pgd_l2(model, x, predictions, radii.float() * 20), predictions)


def test_real_resnet20_bound(shared):
    from smoothing.checkpoints import load_checkpoint

    path = shared / "models/pytorch_resnet_cifar10/pretrained_models/resnet20-12fca82f.th"
    model, _ = load_checkpoint(path, "cifar10", arch="idelbayev_resnet20")
    certifier = LipschitzCertifier.for_model(model, (3, 32, 32))
    x = torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(0))
    local = torch.linalg.matrix_norm(jacobian(lambda z: model(z[None])[0], x).reshape(10, -1), ord=2).item()
    assert local <= certifier.network.estimate <= certifier.network.bound


def test_unsupported_layer():
    with pytest.raises(ValueError, match="no Lipschitz rule for"):
        sequence_lipschitz([nn.Sequential(nn.MaxPool2d(2)), nn.LSTM(2, 2)], (3, 4, 4), SoundBounds())


@pytest.mark.parametrize("block", [BasicBlock, OptionABlock])
def test_residual_shortcut_is_counted(block):
    """With the branch switched off (bn2's gamma = 0) the block is relu(shortcut(x)): only the shortcut
    term of L_branch + L_shortcut keeps the bound above the true constant."""
    torch.manual_seed(0)
    residual = block(3, 3)
    residual.bn2.weight.data.zero_()
    model = nn.Sequential(NormalizeLayer((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),
                          nn.Sequential(residual, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 4))).eval()
    bound = LipschitzCertifier.for_model(model, (3, 4, 4)).network.bound
    x = torch.rand(3, 4, 4) + 0.1  # positive: relu passes the identity shortcut
    local = torch.linalg.matrix_norm(jacobian(lambda z: model(z[None])[0], x).reshape(4, -1), ord=2).item()
    assert local > 0 and local <= bound


def two_class_data(count, seed):
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(count) % 2
    images = (0.35 + 0.3 * labels.float())[:, None, None, None] + 0.1 * torch.randn(count, 3, 8, 8, generator=generator)
    return torch.utils.data.TensorDataset(images.clamp(0, 1), labels)


def tiny_conv_net():
    torch.manual_seed(0)
    return nn.Sequential(NormalizeLayer((0.5,) * 3, (0.25,) * 3), nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 2)))


def test_lmt_training_enlarges_certified_radii_that_survive_pgd(tmp_path):
    from baselines.lipschitz import LipschitzMarginLoss
    from smoothing.checkpoints import read_checkpoint
    from smoothing.training import TrainConfig, train_with_noise

    config = TrainConfig(noise_sd=0.0, epochs=40, batch=32, lr=0.05, lr_step_size=26, workers=0)
    x, y = two_class_data(64, seed=1).tensors
    median_radius = {}
    for c in (0.0, 1.0):
        model = tiny_conv_net()
        train_with_noise(model, "tiny", "cifar10", two_class_data(128, seed=0), tmp_path / str(c), config,
                         device="cpu", criterion=LipschitzMarginLoss(model, (3, 8, 8), c),
                         checkpoint_fields={"method": "lmt", "lmt_c": c})
        predictions, radii = LipschitzCertifier.for_model(model, (3, 8, 8)).certify(x)
        assert (predictions == y).float().mean() > 0.95
        median_radius[c] = radii.median().item()
        assert read_checkpoint(tmp_path / str(c) / "checkpoint.pth.tar")["lmt_c"] == c
    assert median_radius[1.0] > 1.3 * median_radius[0.0]
    certified = radii > 0
    attacked = pgd_l2(model, x[certified], predictions[certified], radii[certified].float() * 0.999)
    assert torch.equal(attacked, predictions[certified])
    assert not torch.equal(pgd_l2(model, x[certified], predictions[certified], radii[certified].float() * 5),
                           predictions[certified])


def test_bounding_leaves_training_flags_alone():
    model = tiny_conv_net().eval()
    LipschitzCertifier.for_model(model, (3, 8, 8))
    assert not any(module.training for module in model.modules())
    model.train()
    from baselines.lipschitz import LipschitzMarginLoss

    LipschitzMarginLoss(model, (3, 8, 8), 1.0).lipschitz()
    assert all(module.training for module in model.modules())


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("padding,stride,size", [(1, 1, 5), (2, 1, 6), (1, 2, 7), ("same", 1, 6)])
def test_padding_modes_are_bounded_soundly(mode, padding, stride, size):
    """Reflect and replicate padding copy border pixels and circular padding wraps, so their operators can
    exceed the zero-padded one (up to ~1.4x on random kernels): the bound must still dominate the exact norm."""
    ratios = []
    for seed in range(4):
        torch.manual_seed(seed)
        conv = nn.Conv2d(2, 3, 3, stride=stride, padding=padding, padding_mode=mode, bias=False).double()
        conv.weight.data.abs_()  # same-sign weights: the copies add up (the worst case for padding)
        exact = exact_operator_norm(conv, (2, size, size))
        bound = SoundBounds().conv(conv, None, (2, size, size)).item()
        with torch.no_grad():
            estimate = PowerIteration(iterations=2000).conv(conv, None, (2, size, size)).item()
        assert bound >= exact * (1 - 1e-9)
        assert estimate == pytest.approx(exact, rel=1e-3)  # the power iteration runs the real operator
        ratios.append(bound / exact)
    assert max(ratios) < (1.25 if mode == "zeros" else 4.0)  # sound, but not vacuous (stride taken exactly)


@pytest.mark.parametrize("groups,dilation", [(2, 1), (4, 1), (2, 2), (1, 2)])
def test_grouped_and_dilated_convolutions(groups, dilation):
    """Grouped convolutions are block-diagonal per frequency; dilated kernels are bounded as the kernel
    with zeros inserted. Both the bound and the power iteration handle them."""
    torch.manual_seed(groups + 10 * dilation)
    conv = nn.Conv2d(4, 8, 3, padding=dilation, dilation=dilation, groups=groups, bias=False).double()
    shape = (4, 7, 7)
    exact = exact_operator_norm(conv, shape)
    bound = SoundBounds().conv(conv, None, shape).item()
    with torch.no_grad():
        estimate = PowerIteration(iterations=2000).conv(conv, None, shape).item()
    assert exact * (1 - 1e-9) <= bound <= 1.5 * exact
    assert estimate == pytest.approx(exact, rel=1e-3)


def test_every_module_of_the_forward_pass_is_bounded():
    """Sequential(NormalizeLayer, net, Linear): the trailing linear map is part of the logits, so it is
    part of the bound (its scale of 100 multiplies the Lipschitz constant) and certified points survive
    an attack; before, only `net` was analysed and the radius came out 100x too large."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 36, 3))
    scale = nn.Linear(3, 3, bias=False)
    scale.weight.data = 100.0 * torch.eye(3) + torch.randn(3, 3)
    model = nn.Sequential(NormalizeLayer((0.5, 0.5, 0.5), (1.0, 1.0, 1.0)), net, scale).eval()
    certifier = LipschitzCertifier.for_model(model, (3, 6, 6))
    assert certifier.head is scale
    x = torch.rand(32, 3, 6, 6, generator=torch.Generator().manual_seed(1))
    local = max(torch.linalg.matrix_norm(jacobian(lambda z: model(z[None])[0], xi).reshape(3, -1), ord=2).item()
                for xi in x)
    assert local <= certifier.network.bound
    predictions, radii = certifier.certify(x)
    assert (radii > 0).any()
    assert torch.equal(pgd_l2(model, x, predictions, radii.float() * 0.999), predictions)


@pytest.mark.parametrize("trailing,message", [
    (nn.Softmax(dim=1), "must end in a linear layer"),
    (nn.Sequential(nn.Linear(3, 3), nn.Tanh(), nn.Linear(3, 3)), "no Lipschitz rule for Tanh"),
])
def test_modules_without_a_rule_are_refused(trailing, message):
    net = nn.Sequential(nn.Flatten(), nn.Linear(12, 3))
    model = nn.Sequential(NormalizeLayer((0.5,) * 3, (1.0,) * 3), net, trailing).eval()
    with pytest.raises(ValueError, match=message):
        LipschitzCertifier.for_model(model, (3, 2, 2))


def test_subclass_with_its_own_forward_is_refused():
    """A Sequential subclass may run its children in another way: it is not followed."""

    class Doubling(nn.Sequential):
        def forward(self, x):
            return 2 * super().forward(x)

    model = nn.Sequential(NormalizeLayer((0.5,) * 3, (1.0,) * 3), Doubling(nn.Flatten()), nn.Linear(12, 3)).eval()
    with pytest.raises(ValueError, match="no Lipschitz rule for Doubling"):
        LipschitzCertifier.for_model(model, (3, 2, 2))


def test_certify_refuses_other_shapes_ranges_and_broken_weights():
    model = nn.Sequential(NormalizeLayer((0.5,) * 3, (1.0,) * 3), nn.Sequential(nn.Flatten(), nn.Linear(12, 3))).eval()
    certifier = LipschitzCertifier.for_model(model, (3, 2, 2))
    with pytest.raises(ValueError, match=r"expects images shaped \(3, 2, 2\)"):
        certifier.certify(torch.rand(1, 3, 4, 4))
    with pytest.raises(ValueError, match=r"pixels must lie in \[0, 1\]"):
        certifier.certify(255 * torch.rand(1, 3, 2, 2))
    model[1][1].weight.data[0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN or infinite logits"):
        certifier.certify(torch.rand(1, 3, 2, 2))


def flat_model(*layers: nn.Module, std=(1.0, 1.0, 1.0)) -> nn.Sequential:
    return nn.Sequential(NormalizeLayer((0.5,) * 3, std), nn.Sequential(*layers)).eval()


def largest_local_gradient(model: nn.Module, shape, count: int = 8, seed: int = 0) -> float:
    generator = torch.Generator().manual_seed(seed)
    return max(torch.linalg.matrix_norm(jacobian(lambda z: model(z[None])[0], torch.rand(shape, generator=generator))
                                        .flatten(1), ord=2).item() for _ in range(count))


def scale_by_ten_hook(module, inputs, output):
    return 10 * output


def scale_by_ten_pre_hook(module, inputs):
    return (10 * inputs[0],)


@pytest.mark.parametrize("install", ["forward hook", "forward pre-hook", "instance forward"])
def test_code_the_classes_do_not_declare_is_refused(install):
    """An Identity scaling by 10 through a hook (or a replaced forward) was certified at 10x the true radius."""
    scaled = nn.Identity()
    if install == "forward hook":
        scaled.register_forward_hook(scale_by_ten_hook)
    elif install == "forward pre-hook":
        scaled.register_forward_pre_hook(scale_by_ten_pre_hook)
    else:
        scaled.forward = lambda x: 10 * x
    model = flat_model(nn.Flatten(), scaled, nn.Linear(12, 3))
    with pytest.raises(ValueError, match="(hook|own forward function).*does not see|follows the class's forward"):
        LipschitzCertifier.for_model(model, (3, 2, 2))


def test_a_global_forward_hook_is_refused():
    model = flat_model(nn.Flatten(), nn.Linear(12, 3))
    handle = torch.nn.modules.module.register_module_forward_hook(scale_by_ten_hook)
    try:
        with pytest.raises(ValueError, match="global forward hook"):
            LipschitzCertifier.for_model(model, (3, 2, 2))
    finally:
        handle.remove()
    certifier = LipschitzCertifier.for_model(model, (3, 2, 2))
    handle = torch.nn.modules.module.register_module_forward_pre_hook(scale_by_ten_pre_hook)
    try:  # installed after the bound was computed: certify refuses too
        with pytest.raises(ValueError, match="global forward hook"):
            certifier.certify(torch.rand(1, 3, 2, 2))
    finally:
        handle.remove()


@pytest.mark.parametrize("norm", ["weight_norm", "spectral_norm"])
def test_old_style_weight_reparametrisations_are_refused(norm):
    """They recompute `weight` in a pre-hook, so right after load_state_dict the bound read stale weights
    (certified radius 1, flipped at 0.11)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # weight_norm is deprecated
        linear = getattr(torch.nn.utils, norm)(nn.Linear(12, 3))
    model = flat_model(nn.Flatten(), linear)
    with pytest.raises(ValueError, match="forward hook or pre-hook .*weight_norm and spectral_norm"):
        LipschitzCertifier.for_model(model, (3, 2, 2))


def cifar_resnet(seed: int = 0) -> nn.Sequential:
    from smoothing.architectures.cifar_resnet import CifarResNet

    torch.manual_seed(seed)
    return nn.Sequential(NormalizeLayer((0.5,) * 3, (0.5,) * 3), CifarResNet(8)).eval()


def test_the_resnet_rule_reads_the_pooling_the_model_has():
    """avgpool replaced by a max pool was bounded as the mean (x 1/sqrt(HW)): radius 0.4, flipped at 0.11."""
    model = cifar_resnet()
    model[1].avgpool = nn.AdaptiveMaxPool2d(1)
    with pytest.raises(ValueError, match="no Lipschitz rule for AdaptiveMaxPool2d"):
        LipschitzCertifier.for_model(model, (3, 8, 8))


def test_the_resnet_rule_reads_the_activations_the_model_has():
    """relu replaced by a LeakyReLU of slope 5 (in the stem and every block) was bounded as a ReLU."""
    model = cifar_resnet()
    steep = nn.LeakyReLU(negative_slope=5.0)
    model[1].relu = steep
    for block in [*model[1].layer1, *model[1].layer2, *model[1].layer3]:
        block.relu = steep
    bound = LipschitzCertifier.for_model(model, (3, 8, 8)).network.bound
    assert largest_local_gradient(model, (3, 8, 8)) <= bound
    plain = LipschitzCertifier.for_model(cifar_resnet(), (3, 8, 8)).network.bound
    assert bound >= 5 ** 4 * plain * (1 - 1e-9)  # stem, and per block the inner and the outer activation (1 + 1)


def test_a_negative_normalisation_std_is_bounded_by_its_magnitude():
    """(1 / std).max() without the absolute value gave 2 where the truth is 10."""
    model = flat_model(nn.Flatten(), nn.Linear(12, 3), std=(0.5, -0.1, 0.5))
    certifier = LipschitzCertifier.for_model(model, (3, 2, 2))
    assert largest_local_gradient(model, (3, 2, 2)) <= certifier.network.bound
    assert certifier.features.bound == pytest.approx(10.0)


def test_batch_norm_without_affine_weights_is_bounded():
    torch.manual_seed(0)
    bn = nn.BatchNorm2d(4, affine=False)
    bn.running_var.uniform_(0.01, 0.1)
    for layers in ([nn.Conv2d(3, 4, 3, padding=1), bn], [nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), bn]):  # folded, alone
        model = flat_model(*layers, nn.Flatten(), nn.Linear(4 * 16, 3))
        assert largest_local_gradient(model, (3, 4, 4)) <= LipschitzCertifier.for_model(model, (3, 4, 4)).network.bound


def test_batch_norm_with_batch_statistics_is_refused():
    model = flat_model(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4, track_running_stats=False), nn.Flatten(),
                       nn.Linear(4 * 16, 3))
    with pytest.raises(ValueError, match="track_running_stats=False normalises each batch by its own statistics"):
        LipschitzCertifier.for_model(model, (3, 4, 4))


def test_a_model_switched_to_training_mode_is_refused():
    model = tiny_conv_net().eval()
    certifier = LipschitzCertifier.for_model(model, (3, 8, 8))
    model.train()
    with pytest.raises(ValueError, match="training mode"):
        certifier.certify(torch.rand(2, 3, 8, 8))

