"""Bad image files never lose a pass: a truncated file, a zero-byte file and a non-image
with an image extension are left out and named together at the end, or, with
``on_bad_image="raise"``, found before any pass."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from innersight_widgets import Analysis
from innersight_widgets.data import UnreadableImage, load_image_folder, save_image_folder

LAYERS = ["conv", "tokens", "head"]
BAD = {5: "truncated", 12: "empty", 30: "text"}  # folder indices of the damaged files


def damage(path: Path, how: str) -> None:
    if how == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif how == "empty":
        path.write_bytes(b"")
    else:
        path.write_text("a note that happens to end in .png\n")


def load(root: Path, **kw):
    return load_image_folder(root, size=8, resize=8, mean=None, std=None, classes=["a", "b", "c"], **kw)


@pytest.fixture
def folders(tiny_data, tmp_path):
    """The same images twice: one folder with three damaged files, one without them."""
    root = save_image_folder(tiny_data, tmp_path / "photos")
    clean = tmp_path / "clean"
    shutil.copytree(root, clean)
    files = load(root).files
    for index, how in BAD.items():
        damage(files[index], how)
        (clean / files[index].relative_to(root)).unlink()
    return root, clean, [files[i] for i in BAD]


@pytest.mark.parametrize("workers", [0, 2])
def test_bad_files_are_left_out_and_named_together(tiny_model, folders, workers, tmp_path):
    root, clean, damaged = folders
    an = Analysis(tiny_model, load(root, num_workers=workers), layers=LAYERS, batch_size=8, progress=False)
    with pytest.warns(UserWarning, match=r"3 of the 37 probe images could not be read") as caught:
        predictions = an.predictions
    message = str(caught[0].message)
    for path in damaged:
        assert path.name in message
    assert an.unreadable.tolist() == sorted(BAD)
    assert len(an.data) == len(predictions.labels) == 34

    reference = Analysis(tiny_model, load(clean), layers=LAYERS, batch_size=8, progress=False)
    np.testing.assert_allclose(predictions.logits, reference.predictions.logits, atol=1e-5)
    np.testing.assert_array_equal(an.labels, reference.labels)
    for layer in LAYERS:
        np.testing.assert_allclose(an.profiles(layer), reference.profiles(layer), atol=1e-5)
        np.testing.assert_allclose(an.neuron_means(layer), reference.neuron_means(layer), atol=1e-5)
    # probe image i is the i-th readable file, in the views too
    np.testing.assert_array_equal(an.images([5, 11, 29]).numpy(), reference.images([5, 11, 29]).numpy())


def test_a_cached_pass_leaves_out_the_same_files(tiny_model, folders, tmp_path):
    root, _, _ = folders
    first = Analysis(tiny_model, load(root), layers=LAYERS, cache_dir=tmp_path / "cache", progress=False)
    with pytest.warns(UserWarning, match="could not be read"):
        profiles = np.array(first.profiles("conv"))
    again = Analysis(tiny_model, load(root), layers=LAYERS, cache_dir=tmp_path / "cache", progress=False)
    with pytest.warns(UserWarning, match="could not be read"):
        assert np.array_equal(again.profiles("conv"), profiles)
    assert again.unreadable.tolist() == sorted(BAD)


def test_raise_checks_the_folder_before_any_pass(folders):
    root, _, damaged = folders
    with pytest.raises(OSError, match=r"3 of the 37 image files .* cannot be read") as info:
        load(root, on_bad_image="raise")
    for path in damaged:
        assert path.name in str(info.value)
    assert "on_bad_image='skip'" in str(info.value)


def test_indexing_a_bad_file_names_it(folders):
    root, _, damaged = folders
    folder = load(root)
    with pytest.raises(UnreadableImage, match=r"could not read the image file .*" + damaged[1].name):
        folder[12]
    assert load(root).unreadable(progress=False).keys() == BAD.keys()


def test_a_folder_whose_first_image_is_bad_still_opens(tiny_model, tiny_data, tmp_path):
    root = save_image_folder(tiny_data, tmp_path / "photos")
    folder = load(root)
    damage(folder.files[0], "empty")
    an = Analysis(tiny_model, folder, layers=LAYERS, progress=False)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        assert len(an.predictions.labels) == 36
    assert an.unreadable.tolist() == [0]
