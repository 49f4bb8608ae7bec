"""A cached pass that is interrupted (a notebook's interrupt, a killed kernel) keeps its
complete images, and the next run resumes from them to arrays equal, bit for bit, to an
uninterrupted run's."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from innersight_widgets import Analysis
from innersight_widgets.engine.runner import ModelRunner

LAYERS = ["conv", "tokens", "head"]
BATCH = 2  # 37 images in 19 batches: a checkpoint after every batch


def analysis(model, data, cache_dir):
    return Analysis(model, data, layers=LAYERS, cache_dir=cache_dir, batch_size=BATCH, progress=False)


def arrays(an):
    pass_ = an._pass()
    return {name: np.array(value) for name, value in pass_.items()}


@pytest.fixture
def forwards(monkeypatch):
    """Counts the images each forward of the pass runs; ``stop_after`` batches raises
    KeyboardInterrupt, as a notebook's interrupt does."""
    seen = {"images": 0, "calls": 0, "stop_after": None}
    real = ModelRunner.forward

    def counting(self, x, *args, **kwargs):
        if seen["stop_after"] is not None and seen["calls"] == seen["stop_after"]:
            raise KeyboardInterrupt
        seen["calls"] += 1
        seen["images"] += len(x)
        return real(self, x, *args, **kwargs)

    monkeypatch.setattr(ModelRunner, "forward", counting)
    return seen


def test_an_interrupted_pass_resumes_and_ends_bit_for_bit_equal(tiny_model, tiny_data, tmp_path, forwards):
    whole = arrays(analysis(tiny_model, tiny_data, tmp_path / "whole"))

    forwards.update(images=0, calls=0, stop_after=9)  # about half: 18 of 37 images
    with pytest.raises(KeyboardInterrupt):
        analysis(tiny_model, tiny_data, tmp_path / "resumed").predictions
    (partial,) = (tmp_path / "resumed").glob(".pass-*.partial")
    assert json.loads((partial / "progress.json").read_text())["rows"] == 18
    assert not list((tmp_path / "resumed").glob("pass-*"))  # no finished entry from half a pass

    forwards.update(images=0, calls=0, stop_after=None)
    resumed = arrays(analysis(tiny_model, tiny_data, tmp_path / "resumed"))
    assert forwards["images"] == 37 - 18  # only the images the first run did not finish
    assert resumed.keys() == whole.keys()
    for name in whole:
        assert resumed[name].dtype == whole[name].dtype
        assert np.array_equal(resumed[name], whole[name]), name
    assert not list((tmp_path / "resumed").glob(".pass-*.partial"))  # committed: the partial folder became the entry


def test_a_pass_without_cache_keeps_nothing(tiny_model, tiny_data, tmp_path, forwards):
    forwards.update(stop_after=5)
    with pytest.raises(KeyboardInterrupt):
        Analysis(tiny_model, tiny_data, layers=LAYERS, batch_size=BATCH, progress=False).predictions
    assert not list(tmp_path.iterdir())


def test_a_failed_pass_leaves_no_partial_folder(tiny_model, tiny_data, tmp_path, monkeypatch):
    real = ModelRunner.forward
    calls = []

    def failing(self, x, *args, **kwargs):
        calls.append(len(x))
        if len(calls) == 4:
            raise RuntimeError("the model broke")
        return real(self, x, *args, **kwargs)

    monkeypatch.setattr(ModelRunner, "forward", failing)
    with pytest.raises(RuntimeError, match="the model broke"):
        analysis(tiny_model, tiny_data, tmp_path).predictions
    assert not [p for p in tmp_path.iterdir() if not p.name.endswith(".lock")]


KILLED_RUN = """
import os, signal, sys, torch
sys.path.insert(0, {tests!r})
from conftest import TinyNet
from innersight_widgets import Analysis, ImageDataset
from innersight_widgets.engine.runner import ModelRunner

torch.manual_seed(0)
model = TinyNet()
model.block[1].running_mean.uniform_(-0.5, 0.5)
model.block[1].running_var.uniform_(0.5, 2.0)
model.eval()
g = torch.Generator().manual_seed(1)
images = torch.rand(37, 3, 8, 8, generator=g)
labels = torch.randint(0, 3, (37,), generator=g)
data = ImageDataset(images, labels, ["a", "b", "c"])
real, calls = ModelRunner.forward, []

def dying(self, x, *args, **kwargs):
    calls.append(1)
    if len(calls) == 11:
        os.kill(os.getpid(), signal.SIGKILL)  # as a kernel killed by the OS or a restart
    return real(self, x, *args, **kwargs)

ModelRunner.forward = dying
Analysis(model, data, layers={layers!r}, cache_dir={cache!r}, batch_size={batch}, progress=False).predictions
"""


def test_a_killed_kernel_keeps_its_complete_images(tiny_model, tiny_data, tmp_path, forwards):
    script = textwrap.dedent(KILLED_RUN).format(
        tests=str(Path(__file__).parents[1]), layers=LAYERS, cache=str(tmp_path / "cache"), batch=BATCH
    )
    done = subprocess.run([sys.executable, "-c", script], env=os.environ | {"PYTHONPATH": os.getcwd()}, timeout=300)
    assert done.returncode == -signal.SIGKILL

    resumed = arrays(analysis(tiny_model, tiny_data, tmp_path / "cache"))
    assert forwards["images"] == 37 - 20  # the killed run completed 10 batches of 2
    whole = arrays(analysis(tiny_model, tiny_data, tmp_path / "whole"))
    for name in whole:
        assert np.array_equal(resumed[name], whole[name]), name
