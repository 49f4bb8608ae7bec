import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from innersight_widgets import Concept, ImageDataset, as_image_dataset, load_digits, load_shapes
from innersight_widgets.data import COLOURS, SHAPES, TEXTURES, colour_agrees_with_shape


def test_digits_are_32x32_in_unit_range_with_a_fixed_disjoint_split():
    train, test = load_digits("digits", "train"), load_digits("digits", "test")
    assert train.images.shape[1:] == (1, 32, 32) and test.images.shape[1:] == (1, 32, 32)
    assert len(train) + len(test) == 1797
    for d in (train, test):
        assert float(d.images.min()) >= 0.0 and float(d.images.max()) <= 1.0
        assert d.images.dtype == torch.float32
    assert set(train.labels.tolist()) == set(range(10))
    # Fixed split: a second call gives the same images; train and test share none.
    assert torch.equal(load_digits("digits", "test").images, test.images)
    train_keys = {img.numpy().tobytes() for img in train.images}
    assert not any(img.numpy().tobytes() in train_keys for img in test.images)


def test_parity_labels_follow_the_digit_concept():
    parity = load_digits("parity", "test")
    digits = parity.concepts["digit"].values
    assert parity.class_names == ["even", "odd"]
    assert np.array_equal(parity.labels.numpy(), digits % 2)
    assert torch.equal(parity.images, load_digits("digits", "test").images)


def test_shapes_carry_independent_concepts_and_are_reproducible():
    data = load_shapes("test", n=800, seed=3)
    assert data.images.shape == (800, 3, 64, 64)
    assert data.class_names == list(SHAPES)
    assert set(data.concepts) == {"shape", "colour", "texture"}
    assert np.array_equal(data.concepts["shape"].values, data.labels.numpy())
    assert data.concepts["colour"].names == COLOURS and data.concepts["texture"].names == TEXTURES
    # every combination of 4 shapes x 4 colours x 2 textures occurs
    combos = set(zip(*(data.concepts[k].values.tolist() for k in ("shape", "colour", "texture"))))
    assert len(combos) == 32
    # independent: colour agrees with shape about a quarter of the time
    assert 0.18 < colour_agrees_with_shape(data).mean() < 0.32
    assert torch.equal(load_shapes("test", n=800, seed=3).images, data.images)
    assert not torch.equal(load_shapes("test", n=800, seed=4).images, data.images)


def test_spurious_train_split_pairs_shape_with_colour_but_test_stays_independent():
    train = load_shapes("train", spurious=True, n=2000)
    assert colour_agrees_with_shape(train).mean() >= 0.9
    test = load_shapes("test", spurious=True, n=2000)
    assert colour_agrees_with_shape(test).mean() < 0.35
    assert torch.equal(test.images, load_shapes("test", n=2000).images)


def test_shape_pixels_have_the_annotated_colour():
    data = load_shapes("test", n=200)
    rgb = data.images.numpy()
    colour = data.concepts["colour"].values
    # the brightest channel of the brightest pixels names the colour (red/green/blue);
    # yellow is red and green both high
    for i in range(200):
        bright = rgb[i].reshape(3, -1)[:, rgb[i].sum(0).reshape(-1) > np.quantile(rgb[i].sum(0), 0.97)]
        mean = bright.mean(1)
        expected = COLOURS[colour[i]]
        if expected == "yellow":
            assert min(mean[0], mean[1]) > mean[2] + 0.25
        else:
            assert int(np.argmax(mean)) == ["red", "green", "blue"].index(expected)


@pytest.mark.parametrize(
    "make",
    [
        lambda x, y: (x, y),
        lambda x, y: (x.numpy(), y.numpy()),
        lambda x, y: TensorDataset(x, y),
        lambda x, y: DataLoader(TensorDataset(x, y), batch_size=4),
        lambda x, y: ImageDataset(x, y),
    ],
    ids=["tensor-pair", "array-pair", "dataset", "dataloader", "image-dataset"],
)
def test_adapter_accepts_what_users_have(make):
    x = torch.rand(10, 3, 5, 5)
    y = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 2, 2])
    data = as_image_dataset(make(x, y))
    assert torch.equal(data.images, x) and torch.equal(data.labels, y)
    assert data.class_names == ["0", "1", "2"]
    assert as_image_dataset(make(x, y), class_names=["a", "b", "c"]).class_names == ["a", "b", "c"]


@pytest.mark.parametrize(
    "images, labels, names, message",
    [
        (torch.rand(0, 3, 4, 4), torch.zeros(0, dtype=torch.long), None, "empty"),
        (torch.rand(5, 4, 4), torch.zeros(5, dtype=torch.long), None, "unsqueeze"),
        (torch.rand(5, 3, 4, 4), torch.zeros(4, dtype=torch.long), None, "one label per image"),
        (torch.rand(5, 3, 4, 4), torch.tensor([0, 1, 2, 3, 4]), ["a", "b"], "labels must lie in 0..1"),
        (torch.rand(5, 3, 4, 4), torch.tensor([0, -1, 0, 0, 0]), None, "labels must lie"),
        ((torch.rand(5, 3, 4, 4) * 255).to(torch.uint8), torch.zeros(5, dtype=torch.long), None, "/ 255"),
        (torch.rand(5, 3, 4, 4), torch.rand(5), None, "is not a class index"),
    ],
)
def test_bad_input_gets_a_clear_error(images, labels, names, message):
    with pytest.raises((ValueError, TypeError), match=message.replace("(", r"\(").replace(".", r"\.")):
        ImageDataset(images, labels, names)


def test_adapter_rejects_unusable_things_with_guidance():
    with pytest.raises(TypeError, match="ImageDataset"):
        as_image_dataset("images.zip")
    with pytest.raises(ValueError, match="empty"):
        as_image_dataset(TensorDataset(torch.rand(0, 3, 4, 4), torch.zeros(0)))


def test_concepts_must_match_the_images():
    with pytest.raises(ValueError, match="one value per image"):
        ImageDataset(torch.rand(3, 1, 2, 2), [0, 1, 0], concepts={"c": Concept(np.array([0, 1]), ("x", "y"))})
    with pytest.raises(ValueError, match="must lie in 0..1"):
        Concept(np.array([0, 2]), ("x", "y"))


def test_subset_keeps_labels_and_concepts_aligned():
    data = load_shapes("test", n=50)
    sub = data.subset([3, 7, 9])
    assert torch.equal(sub.images, data.images[[3, 7, 9]])
    assert sub.concepts["colour"].values.tolist() == data.concepts["colour"].values[[3, 7, 9]].tolist()
