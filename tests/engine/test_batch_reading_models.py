"""Models that read the batch size from their input (``bs = x.size(0)`` ... ``h.view(bs, -1)``):
ablations are widened inside them where that is exact, and where it cannot be, the plain
copies they fall back to are announced once."""

import warnings

import numpy as np
import pytest
import torch
from torch import nn

from innersight_widgets.data import ImageDataset, ProbeSet
from innersight_widgets.engine import ModelRunner
from innersight_widgets.engine._ablation import Ablator

IMAGES, BATCH = 20, 16
SPECS = [{"conv2": [i]} for i in range(4)]  # 4 ablations: pieces of 16 // 4 = 4 images


class BatchReadingNet(nn.Module):
    """Three convolutions and a linear head over the flattened maps, flattened with the
    batch size read from the input; ``shortcut`` adds conv2's input to its output."""

    def __init__(self, shortcut: bool = False, read: str = "size") -> None:
        super().__init__()
        self.shortcut, self.read = shortcut, read
        self.conv1 = nn.Conv2d(3, 6, 3, padding=1)
        self.conv2 = nn.Conv2d(6, 6, 3, padding=1)
        self.conv3 = nn.Conv2d(6, 4, 3, stride=2, padding=1)
        self.fc = nn.Linear(4 * 4 * 4, 3)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.conv1(x))
        h = torch.relu(self.conv2(h)) + h if self.shortcut else torch.relu(self.conv2(h))
        return torch.relu(self.conv3(h))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bs = x.size(0) if self.read == "size" else x.shape[0]
        h = self.features(x)
        return self.fc(h.view(bs, 4, -1).reshape(bs, -1))


class CheckingNet(BatchReadingNet):
    """Checks the batch size with a Python ``if``: torch.fx cannot trace it, and run as it is
    on a batch widened inside it, it refuses."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bs = x.size(0)
        h = self.features(x)
        if h.shape[0] != bs:
            raise ValueError(f"expected {bs} images, got {h.shape[0]}")
        return self.fc(h.view(bs, -1))


def setup(model: nn.Module) -> tuple[Ablator, torch.Tensor, list[int]]:
    """An ablator over 20 random images, and the list that a hook on conv1 (below the
    ablated conv2) fills with the rows of each batch it runs."""
    torch.manual_seed(0)
    model.eval()
    g = torch.Generator().manual_seed(1)
    images = torch.rand(IMAGES, 3, 8, 8, generator=g)
    data = ProbeSet(ImageDataset(images, torch.randint(0, 3, (IMAGES,), generator=g), list("abc")))
    runner = ModelRunner(model, "cpu", batch_size=BATCH)
    infos = runner.discover(images[:2])[0]
    rows: list[int] = []
    model.conv1.register_forward_hook(lambda _m, inputs, _o: rows.append(len(inputs[0])))
    return Ablator(runner, data, infos.__getitem__, progress=False), images, rows


def by_hand(model: nn.Module, images: torch.Tensor, neuron: int) -> np.ndarray:
    """Reference: the model with conv2's channel ``neuron`` zeroed by a hook of its own."""

    def zero(_m: nn.Module, _i: object, out: torch.Tensor) -> torch.Tensor:
        out = out.clone()
        out[:, neuron] = 0
        return out

    handle = model.conv2.register_forward_hook(zero)
    with torch.no_grad():
        logits = model(images).numpy()
    handle.remove()
    return logits


def ablate(ablator: Ablator) -> np.ndarray:
    return ablator.run(SPECS, "zero", lambda _: None, None, None, None)


@pytest.mark.parametrize("shortcut, read", [(False, "size"), (True, "size"), (False, "shape")])
def test_a_model_that_flattens_with_the_input_batch_size_is_widened_exactly(shortcut, read):
    model = BatchReadingNet(shortcut, read)
    ablator, images, rows = setup(model)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # widening works: nothing to warn about
        out = ablate(ablator)
    assert ablator.widening == {("conv2",): True}
    # 5 pieces of 4 images went in once each; the first piece's first 2 images also went
    # in as 4 plain copies, to check the widened logits against
    assert sum(rows) == IMAGES + 2 * len(SPECS)
    rows.clear()
    np.testing.assert_array_equal(ablate(ablator), out)
    assert sum(rows) == IMAGES  # conv1 runs once per image, not once per ablation and image
    for spec, logits in zip(SPECS, out):
        np.testing.assert_allclose(logits, by_hand(model, images, spec["conv2"][0]), rtol=1e-5, atol=1e-6)


def test_a_model_that_cannot_widen_gets_plain_copies_and_one_warning_that_says_so():
    model = CheckingNet()
    ablator, images, rows = setup(model)
    with pytest.warns(UserWarning) as caught:
        out = ablate(ablator)
    (warning,) = caught
    message = str(warning.message)
    for part in (
        "ablating 'conv2'",
        "ValueError: expected 4 images, got 16",  # why: the model's own check refused the wide batch
        "plain copies: the whole network runs once per ablation and image, about 4 forward passes for 4 ablations",
        "does not trace with torch.fx",
        "x.flatten(1)",
        "bs = x.size(0)",
    ):
        assert part in message
    assert ablator.widening == {("conv2",): False}
    rows.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # said once per ablator and set of layers
        np.testing.assert_array_equal(ablate(ablator), out)
    assert sum(rows) == len(SPECS) * IMAGES  # conv1 runs once per ablation and image
    for spec, logits in zip(SPECS, out):
        np.testing.assert_allclose(logits, by_hand(model, images, spec["conv2"][0]), rtol=1e-5, atol=1e-6)
