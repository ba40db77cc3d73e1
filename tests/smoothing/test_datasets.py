"""Datasets (smoothing.datasets): real formats, the official test order, one clear error per missing or bad file."""
import io
import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from smoothing.datasets import DataNotFoundError, create_dataset, dataset_info, dataset_names
from smoothing.datasets.embedded import read_test_prefix
from tests.helpers import Payload


def test_missing_data_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("SMOOTHBENCH_DATA", raising=False)
    with pytest.raises(DataNotFoundError, match="pass --data-root PATH or set the environment variable SMOOTHBENCH_DATA"):
        create_dataset("cifar10")
    with pytest.raises(DataNotFoundError, match="does not exist"):
        create_dataset("cifar10", root=tmp_path / "absent")
    with pytest.raises(DataNotFoundError, match="cifar-10-batches-py/test_batch"):
        create_dataset("cifar10", root=tmp_path)
    monkeypatch.setenv("IMAGENET_DIR", str(tmp_path))
    with pytest.raises(DataNotFoundError, match="ImageNet test folder not found"):
        create_dataset("imagenet")


def test_corrupt_and_hostile_cifar_batches(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    (folder / "test_batch").write_bytes(b"\x80\x02garbage")
    with pytest.raises(ValueError, match="test_batch is not a readable CIFAR-10 python batch"):
        create_dataset("cifar10", root=tmp_path)
    (folder / "test_batch").write_bytes(pickle.dumps(Payload()))
    with pytest.raises(ValueError, match="unexpected object builtins.print"):
        create_dataset("cifar10", root=tmp_path)


def test_truncated_imagenet_jpeg_is_named(tmp_path):
    from PIL import Image

    val = tmp_path / "val"
    val.mkdir()
    Image.new("RGB", (300, 300), (10, 200, 30)).save(tmp_path / "good.JPEG", quality=90)
    data = (tmp_path / "good.JPEG").read_bytes()
    for k in range(1000):
        (val / f"n{k:08d}").mkdir()
        (val / f"n{k:08d}" / ("torn.JPEG" if k == 1 else "good.JPEG")).write_bytes(data[: len(data) // 2] if k == 1 else data)
    dataset = create_dataset("imagenet", root=tmp_path)
    assert dataset[0][0].shape == (3, 224, 224)
    with pytest.raises(ValueError, match=r"n00000001/torn.JPEG is not a readable image"):
        dataset[1]


def test_embedded_subset():
    data = create_dataset("cifar10-embedded")
    assert len(data) == 500 and list(data.indices[:3]) == [0, 1, 2]
    assert list(data.labels[:10]) == [3, 8, 8, 0, 6, 6, 1, 6, 3, 1]
    x, label = data[0]
    assert x.shape == dataset_info("cifar10-embedded").input_shape and x.dtype == torch.float32
    assert 0.0 <= x.min() and x.max() <= 1.0 and label == 3
    with pytest.raises(ValueError, match="test images only"):
        create_dataset("cifar10-embedded", "train")


def test_embedded_subset_is_pixel_exact(shared):
    images, labels = read_test_prefix(shared / "data/cifar10-test-prefix/test_batch.prefix")
    data = create_dataset("cifar10-embedded")
    np.testing.assert_array_equal(data.images, images[:500])
    np.testing.assert_array_equal(data.labels, labels[:500])


def write_cifar_fixture(root, count=12):
    """A cifar-10-batches-py folder in the real format: pickled dicts with uint8 'data' and 'labels'."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in ["test_batch"] + [f"data_batch_{i}" for i in range(1, 6)]:
        entry = {b"batch_label": name.encode(), b"labels": rng.integers(0, 10, count).tolist(),
                 b"data": rng.integers(0, 256, (count, 3072), dtype=np.uint8), b"filenames": []}
        with open(folder / name, "wb") as f:
            pickle.dump(entry, f, protocol=2)
    return folder


def test_cifar10_python_format(tmp_path, monkeypatch):
    folder = write_cifar_fixture(tmp_path)
    monkeypatch.setenv("SMOOTHBENCH_DATA", str(tmp_path))
    test = create_dataset("cifar10")
    with open(folder / "test_batch", "rb") as f:
        raw = pickle.load(f)
    x, label = test[5]
    assert len(test) == 12 and label == raw[b"labels"][5]
    expected = torch.from_numpy(raw[b"data"][5].reshape(3, 32, 32).astype(np.float32) / 255)
    torch.testing.assert_close(x, expected)
    train = create_dataset("cifar10", "train", root=folder)  # the batches folder itself works too
    assert len(train) == 60 and train[0][0].shape == (3, 32, 32)


def test_imagenet_folder(tmp_path):
    for c in range(1000):
        (tmp_path / "val" / f"n{c:08d}").mkdir(parents=True)
    Image.new("RGB", (300, 260), (255, 0, 0)).save(tmp_path / "val" / "n00000007" / "a.JPEG")
    for c in range(1000):
        if c != 7:
            Image.new("L", (40, 40)).save(tmp_path / "val" / f"n{c:08d}" / "b.JPEG")
    data = create_dataset("imagenet", root=tmp_path)
    x, label = data[7]
    assert x.shape == (3, 224, 224) and label == 7 and x[0].min() > 0.9
    assert data[0][0].shape == (3, 224, 224)  # grayscale converted to RGB


def write_cifar_jpeg_fixture(root, per_class_train=3):
    """The cifar10-jpeg formats: a packed train.npz (jpeg bytes, offsets, labels) and the test tree
    test/<class>/<k>.jpg for the first images of each class in official order (the shipped label list)."""
    from smoothing.datasets.cifar10_jpeg import CLASS_NAMES, official_test_labels

    rng = np.random.default_rng(0)
    files, labels = [], []
    for label in range(10):
        for _ in range(per_class_train):
            buffer = io.BytesIO()
            Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(buffer, "JPEG", quality=75)
            files.append(np.frombuffer(buffer.getvalue(), np.uint8))
            labels.append(label)
    offsets = np.concatenate([[0], np.cumsum([len(f) for f in files])])
    (root / "cifar10-train-jpeg").mkdir(parents=True)
    np.savez(root / "cifar10-train-jpeg" / "train.npz", jpeg=np.concatenate(files), offsets=offsets,
             labels=np.array(labels, np.uint8), index_in_class=np.zeros(len(labels), np.int32))
    test = official_test_labels()
    for label in range(10):
        (root / "test" / CLASS_NAMES[label]).mkdir(parents=True)
        for k in range(int((test == label).sum())):
            Image.new("RGB", (32, 32), (25 * label, k % 256, 0)).save(root / "test" / CLASS_NAMES[label] / f"{k:04d}.jpg",
                                                                      quality=95)
    return files, labels


def test_cifar10_jpeg_format(tmp_path):
    files, labels = write_cifar_jpeg_fixture(tmp_path)
    train = create_dataset("cifar10-jpeg", "train", root=tmp_path)
    assert len(train) == 30 and list(train.labels) == labels and train.images.dtype == np.uint8
    np.testing.assert_array_equal(train.images[4], np.asarray(Image.open(io.BytesIO(files[4].tobytes())).convert("RGB")))
    test = create_dataset("cifar10-jpeg", "test", root=tmp_path)
    assert len(test) == 10_000 and list(test.labels[:10]) == [3, 8, 8, 0, 6, 6, 1, 6, 3, 1]
    # official index 8 is the second cat (k = 1): red 75, green 1
    assert tuple(test.images[8][0, 0]) == pytest.approx((75, 1, 0), abs=3) and test[8][1] == 3
    x, _ = test[8]
    assert x.shape == (3, 32, 32) and 0 <= x.min() and x.max() <= 1


def test_cifar10_jpeg_errors_say_where(tmp_path):
    write_cifar_jpeg_fixture(tmp_path)
    (tmp_path / "test" / "cat" / "0001.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    with pytest.raises(ValueError, match=r"test/cat/0001.jpg is not a readable image"):
        create_dataset("cifar10-jpeg", "test", root=tmp_path)
    (tmp_path / "test" / "cat" / "0001.jpg").unlink()
    with pytest.raises(DataNotFoundError, match=r"test image missing: .*test/cat/0001.jpg"):
        create_dataset("cifar10-jpeg", "test", root=tmp_path)
    packed = tmp_path / "cifar10-train-jpeg" / "train.npz"
    packed.write_bytes(packed.read_bytes()[:100])
    with pytest.raises(ValueError, match="train.npz is not a readable packed CIFAR-10 JPEG set"):
        create_dataset("cifar10-jpeg", "train", root=tmp_path)
    with pytest.raises(DataNotFoundError, match="Put train.npz there, under the folder given by --data-root"):
        create_dataset("cifar10-jpeg", "train", root=tmp_path / "test")


def test_cifar10_jpeg_is_the_official_order(shared):
    """Index i of the JPEG test split is official test image i (the embedded exact pixels, PSNR > 23 dB)."""
    jpeg = create_dataset("cifar10-jpeg", "test", root=shared / "data")
    exact = create_dataset("cifar10-embedded")
    error = ((jpeg.images[:500].astype(float) - exact.images.astype(float)) ** 2).mean(axis=(1, 2, 3))
    assert (10 * np.log10(255**2 / error)).min() > 23
    np.testing.assert_array_equal(jpeg.labels[:500], exact.labels)
    train = create_dataset("cifar10-jpeg", "train", root=shared / "data")
    assert len(train) == 50_000 and np.bincount(train.labels).tolist() == [5000] * 10


def test_datasets():
    assert {"cifar10", "imagenet", "cifar10-embedded", "cifar10-jpeg"} <= set(dataset_names())
    assert dataset_info("imagenet").num_classes == 1000 and dataset_info("cifar10").input_shape == (3, 32, 32)

