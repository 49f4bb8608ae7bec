"""A cache folder written by the package before its code moved into engine/ and one room per
method (commit 77ea4a1: digits-cnn over the first 40 digits test images, layers conv3 and
fc1) opens with no forward pass and gives what a new pass gives."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from innersight_widgets import Analysis, load_digits, load_pretrained
from innersight_widgets.engine import probe as probe_module

WRITTEN_BEFORE = Path(__file__).parent / "data" / "cache-written-before-the-rooms"
LAYERS = ["conv3", "fc1"]


def analysis(cache_dir: Path) -> Analysis:
    data = load_digits(split="test").subset(range(40))
    return Analysis(load_pretrained("digits-cnn"), data, layers=LAYERS, progress=False, cache_dir=cache_dir)


def test_an_entry_written_before_opens_without_a_pass_and_holds_what_a_pass_gives(tmp_path, monkeypatch):
    fresh = analysis(tmp_path / "fresh")
    fresh.profiles(LAYERS[0])  # the pass, before it is refused below

    def refuse(*_: object) -> None:
        pytest.fail("the pass ran instead of opening the entry written before")

    cache = shutil.copytree(WRITTEN_BEFORE, tmp_path / "cache")
    monkeypatch.setattr(probe_module, "streaming_pass", refuse)
    old = analysis(cache)
    assert old.cached
    for layer in LAYERS:
        np.testing.assert_allclose(old.profiles(layer), fresh.profiles(layer), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(old.neuron_means(layer), fresh.neuron_means(layer), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(old.predictions.logits, fresh.predictions.logits, rtol=1e-5, atol=1e-5)
    assert old.top_images("conv3", 3, k=4).positions.tolist() == fresh.top_images("conv3", 3, k=4).positions.tolist()
