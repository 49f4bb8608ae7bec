"""The on-disk cache: reused when valid, recomputed on any change or damage, never pickled;
large statistics memory-mapped; lazy data identified without reading every image."""

import json

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset

from innersight_widgets import Analysis
from innersight_widgets.engine import probe as probe_module

LAYERS = ["conv", "tokens", "head"]


@pytest.fixture
def count_passes(monkeypatch):
    calls = []
    real = probe_module.streaming_pass

    def counting(*args):
        calls.append(args)
        return real(*args)

    monkeypatch.setattr(probe_module, "streaming_pass", counting)
    return calls


def make(model, data, tmp_path, **kw):
    return Analysis(model, data, layers=LAYERS, cache_dir=tmp_path, progress=False, **kw)


def entry(tmp_path):
    (folder,) = [p for p in tmp_path.glob("pass-*") if p.is_dir()]
    return folder


def test_a_second_analysis_reuses_the_cache(tiny_model, tiny_data, tmp_path, count_passes):
    first = make(tiny_model, tiny_data, tmp_path).profiles("conv")
    second = make(tiny_model, tiny_data, tmp_path)
    np.testing.assert_array_equal(second.profiles("conv"), first)
    np.testing.assert_array_equal(second.top_images("tokens", 2).indices, make(tiny_model, tiny_data, tmp_path).top_images("tokens", 2).indices)
    assert len(count_passes) == 1
    folder = entry(tmp_path)
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["settings"]["layers"] == LAYERS
    for file in folder.glob("*.npy"):  # every array readable without pickle
        np.load(file, allow_pickle=False)
    assert not list(tmp_path.glob(".*tmp")), "the temporary folder of the pass was left behind"


def test_a_weight_change_recomputes(tiny_model, tiny_data, tmp_path, count_passes):
    before = make(tiny_model, tiny_data, tmp_path).profiles("conv")
    with torch.no_grad():
        tiny_model.conv.weight[0] += 1.0
    after = make(tiny_model, tiny_data, tmp_path).profiles("conv")
    assert len(count_passes) == 2
    assert not np.allclose(before[:, 0], after[:, 0])


def test_a_buffer_change_recomputes(tiny_model, tiny_data, tmp_path, count_passes):
    make(tiny_model, tiny_data, tmp_path).profiles("conv")
    tiny_model.block[1].running_mean += 0.1
    make(tiny_model, tiny_data, tmp_path).profiles("conv")
    assert len(count_passes) == 2


def test_a_data_or_settings_change_recomputes(tiny_model, tiny_data, tmp_path, count_passes):
    make(tiny_model, tiny_data, tmp_path).profiles("conv")
    make(tiny_model, tiny_data.subset(range(30)), tmp_path).profiles("conv")
    make(tiny_model, tiny_data, tmp_path, pooling="max").profiles("conv")
    make(tiny_model, tiny_data, tmp_path, profiles_dtype="float16").profiles("conv")
    assert len(count_passes) == 4


def damage_truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def damage_flip_a_byte(path):
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF  # inside the array data, past the .npy header
    path.write_bytes(bytes(data))


def damage_garbage(path):
    path.write_bytes(b"not an npy file at all")


@pytest.mark.parametrize("damage", [damage_truncate, damage_flip_a_byte, damage_garbage])
def test_a_damaged_cache_file_is_detected_and_recomputed(tiny_model, tiny_data, tmp_path, count_passes, damage):
    good = make(tiny_model, tiny_data, tmp_path).profiles("conv")
    damage(entry(tmp_path) / "profiles@conv.npy")
    with pytest.warns(UserWarning, match="unusable cache"):
        again = make(tiny_model, tiny_data, tmp_path).profiles("conv")
    np.testing.assert_array_equal(again, good)
    assert len(count_passes) == 2
    # the recomputed result was written back and is valid again
    make(tiny_model, tiny_data, tmp_path).profiles("conv")
    assert len(count_passes) == 2


def test_large_statistics_are_memory_mapped_and_equal(tiny_model, tiny_data, tmp_path):
    in_ram = Analysis(tiny_model, tiny_data, layers=LAYERS, progress=False)
    mapped = make(tiny_model, tiny_data, tmp_path, memmap_threshold=0)
    profiles = mapped.profiles("conv")
    assert isinstance(profiles, np.memmap) and not profiles.flags.writeable
    np.testing.assert_array_equal(profiles, in_ram.profiles("conv"))
    np.testing.assert_array_equal(mapped.predictions.logits, in_ram.predictions.logits)
    # reopened from the cache, still mapped
    again = make(tiny_model, tiny_data, tmp_path, memmap_threshold=0).profiles("tokens")
    assert isinstance(again, np.memmap)
    np.testing.assert_array_equal(again, in_ram.profiles("tokens"))


def test_float16_profiles_halve_the_statistics(tiny_model, tiny_data):
    full = Analysis(tiny_model, tiny_data, layers=LAYERS, progress=False)
    half = Analysis(tiny_model, tiny_data, layers=LAYERS, progress=False, profiles_dtype="float16")
    assert half.profiles("conv").dtype == np.float16
    assert half.profiles("conv").nbytes * 2 == full.profiles("conv").nbytes
    np.testing.assert_allclose(half.profiles("conv"), full.profiles("conv"), rtol=2e-3, atol=1e-3)
    # means and logits are reduced in fp32 whatever the profiles are stored as
    np.testing.assert_array_equal(half.neuron_means("conv"), full.neuron_means("conv"))


class Items(Dataset):
    """A lazy dataset that counts how many items were read."""

    def __init__(self, images, labels):
        self.images, self.labels_, self.reads = images, labels, 0

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        self.reads += 1
        return self.images[i], int(self.labels_[i])


def test_a_lazy_dataset_is_fingerprinted_from_a_sample(tiny_model, tiny_data, tmp_path, count_passes):
    data = Items(tiny_data.images, tiny_data.labels)
    make(tiny_model, data, tmp_path, class_names=["a", "b", "c"]).profiles("conv")
    data.reads = 0
    make(tiny_model, data, tmp_path, class_names=["a", "b", "c"]).profiles("conv")
    assert len(count_passes) == 1
    # the second analysis read its two discovery images and the fingerprint's sample, not all 37
    assert data.reads <= 2 + 16
    # an item of the sample changed: recomputed (an item outside the sample would not be seen)
    changed = tiny_data.images.clone()
    changed[0] += 1
    make(tiny_model, Items(changed, tiny_data.labels), tmp_path, class_names=["a", "b", "c"]).profiles("conv")
    assert len(count_passes) == 2
