"""The architectures registry: every name builds a network of the right output shape."""
import pytest
import torch

from smoothing.architectures import architecture_names, create_architecture
from smoothing.datasets import create_dataset


def test_unknown_names():
    with pytest.raises(KeyError, match="unknown architecture 'cifar_resnet11'. Did you mean 'cifar_resnet110'"):
        create_architecture("cifar_resnet11", "cifar10")
    with pytest.raises(KeyError, match="unknown dataset 'cifar100'"):
        create_dataset("cifar100")


@pytest.mark.parametrize("name", ["cifar_resnet20", "idelbayev_resnet20", "plain_cnn4c2f_w16"])
def test_architectures(name):
    assert name in architecture_names()
    model = create_architecture(name, "cifar10")
    assert model.eval()(torch.rand(1, 3, 32, 32)).shape == (1, 10)

