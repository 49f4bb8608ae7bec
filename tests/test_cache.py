"""The on-disk cache: reused when valid, recomputed on any change or damage, never pickled."""

import zipfile

import numpy as np
import pytest
import torch

from innersight_widgets import Analysis
from innersight_widgets.core import analysis as analysis_module

LAYERS = ["conv", "tokens", "head"]


@pytest.fixture
def count_passes(monkeypatch):
    calls = []
    real = analysis_module._streaming_pass

    def counting(an):
        calls.append(an)
        return real(an)

    monkeypatch.setattr(analysis_module, "_streaming_pass", counting)
    return calls


def make(model, data, tmp_path, **kw):
    return Analysis(model, data, layers=LAYERS, cache_dir=tmp_path, progress=False, **kw)


def test_a_second_analysis_reuses_the_cache(tiny_model, tiny_data, tmp_path, count_passes):
    first = make(tiny_model, tiny_data, tmp_path).profiles("conv")
    second = make(tiny_model, tiny_data, tmp_path)
    np.testing.assert_array_equal(second.profiles("conv"), first)
    np.testing.assert_array_equal(second.top_images("tokens", 2).indices, make(tiny_model, tiny_data, tmp_path).top_images("tokens", 2).indices)
    assert len(count_passes) == 1
    files = list(tmp_path.glob("*.npz"))
    assert len(files) == 1
    with np.load(files[0], allow_pickle=False) as f:  # readable without pickle
        assert "__meta__" in f.files


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
    assert len(count_passes) == 3


def damage_truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def damage_flip_a_byte(path):
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        info = z.getinfo("profiles:conv.npy")
    # a byte inside the stored array data, past the local header and the .npy header
    offset = info.header_offset + 30 + len(info.filename) + 200
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def damage_garbage(path):
    path.write_bytes(b"not a zip file at all")


@pytest.mark.parametrize("damage", [damage_truncate, damage_flip_a_byte, damage_garbage])
def test_a_damaged_cache_file_is_detected_and_recomputed(tiny_model, tiny_data, tmp_path, count_passes, damage):
    good = make(tiny_model, tiny_data, tmp_path).profiles("conv")
    (path,) = tmp_path.glob("*.npz")
    damage(path)
    with pytest.warns(UserWarning, match="unusable cache file"):
        again = make(tiny_model, tiny_data, tmp_path).profiles("conv")
    np.testing.assert_array_equal(again, good)
    assert len(count_passes) == 2
    # the recomputed result was written back and is valid again
    make(tiny_model, tiny_data, tmp_path).profiles("conv")
    assert len(count_passes) == 2
