"""The CUDA paths of the execution seam: precision, pinned non-blocking copies, out-of-memory
retries. Run them on a GPU machine with ``pytest -m cuda``; without CUDA they skip."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from innersight_widgets import Analysis, load_pretrained, load_shapes

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]

LAYERS = ["layer1", "layer2", "layer3"]


@pytest.fixture(scope="module")
def data():
    return load_shapes("test", n=300)


@pytest.fixture(scope="module")
def on_cpu(data):
    return Analysis(load_pretrained("shapes-cnn"), data, layers=LAYERS, device="cpu", progress=False)


def test_fp32_on_cuda_equals_the_cpu(data, on_cpu):
    an = Analysis(load_pretrained("shapes-cnn"), data, layers=LAYERS, device="cuda", progress=False)
    for layer in LAYERS:
        np.testing.assert_allclose(an.profiles(layer), on_cpu.profiles(layer), rtol=1e-3, atol=1e-4)
    np.testing.assert_array_equal(an.predictions.classes, on_cpu.predictions.classes)
    spec = {"layer3": [0, 1, 2, 3]}
    np.testing.assert_allclose(an.ablate(spec).logits_after, on_cpu.ablate(spec).logits_after, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_autocast_keeps_statistics_in_fp32_and_close(data, on_cpu, precision):
    an = Analysis(load_pretrained("shapes-cnn"), data, layers=LAYERS, device="cuda", precision=precision, progress=False)
    assert an.profiles("layer3").dtype == np.float32 and an.predictions.logits.dtype == np.float32
    scale = np.abs(on_cpu.profiles("layer3")).max()
    np.testing.assert_allclose(an.profiles("layer3"), on_cpu.profiles("layer3"), atol=0.05 * scale)
    assert (an.predictions.classes == on_cpu.predictions.classes).mean() > 0.98


def test_batches_are_pinned_and_copied_without_blocking(data):
    an = Analysis(load_pretrained("shapes-cnn"), data, layers=LAYERS, device="cuda", progress=False)
    seen = []
    real = an.runner.to_device

    def spy(x):
        seen.append(x.is_pinned())
        return real(x)

    an.runner.to_device = spy
    an.profiles("layer1")
    assert seen and all(seen)


def test_a_real_out_of_memory_error_halves_the_batch(data, on_cpu, monkeypatch):
    an = Analysis(load_pretrained("shapes-cnn"), data, layers=LAYERS, device="cuda", batch_size=256, progress=False)
    real = an.runner.forward
    sizes = []

    def limited(x, hooks=None, stop_after=None, grad=False):
        sizes.append(len(x))
        if len(x) > 64:  # as if the card could hold no more than 64 images
            torch.empty(1 << 50, dtype=torch.uint8, device="cuda")  # raises torch.cuda.OutOfMemoryError
        return real(x, hooks, stop_after, grad)

    monkeypatch.setattr(an.runner, "forward", limited)
    np.testing.assert_allclose(an.profiles("layer3"), on_cpu.profiles("layer3"), rtol=1e-3, atol=1e-4)
    assert 256 in sizes and max(s for s in sizes[-3:]) <= 64
