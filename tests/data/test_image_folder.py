"""The lazy image-folder dataset: layout, decoding recipe, fingerprint, errors, workers."""

from __future__ import annotations

import os
import pickle
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import DataLoader

from innersight_widgets.data.folder import IMAGENET_MEAN, IMAGENET_STD, ImageFolder, load_image_folder

RED = (255, 0, 0)
BLUE = (0, 0, 255)


def _save(path: Path, size: tuple[int, int] = (12, 10), colour: tuple[int, int, int] = RED) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path, format="PNG" if path.suffix.lower() == ".png" else "JPEG")
    return path


def _red_blue(width: int, height: int) -> Image.Image:
    """Left half red, right half blue."""
    pixels = np.zeros((height, width, 3), dtype=np.uint8)
    pixels[:, : width // 2] = RED
    pixels[:, width // 2 :] = BLUE
    return Image.fromarray(pixels)


def _normalised(rgb: np.ndarray) -> np.ndarray:
    mean = np.asarray(IMAGENET_MEAN, dtype=np.float32)
    std = np.asarray(IMAGENET_STD, dtype=np.float32)
    return (rgb.astype(np.float32) / np.float32(255) - mean) / std


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Three classes given out of order, with distinct colours, 2 + 1 + 3 images."""
    root = tmp_path / "photos"
    for name, count, colour in [("dog", 1, (0, 255, 0)), ("cat", 2, RED), ("emu", 3, BLUE)]:
        for i in range(count):
            _save(root / name / f"{name}{i}.png", colour=colour)
    return root


def test_classes_and_labels_come_from_sorted_sub_folders(folder: Path) -> None:
    ds = load_image_folder(folder, size=8)
    assert ds.class_names == ["cat", "dog", "emu"]
    assert [f.relative_to(folder).as_posix() for f in ds.files] == [
        "cat/cat0.png", "cat/cat1.png", "dog/dog0.png", "emu/emu0.png", "emu/emu1.png", "emu/emu2.png",
    ]
    assert ds.labels.dtype == np.int64
    assert ds.labels.tolist() == [0, 0, 1, 2, 2, 2]
    assert len(ds) == 6
    image, label = ds[2]
    assert label == 1 and isinstance(label, int)
    assert image.dtype == torch.float32 and image.shape == (3, 8, 8)
    assert torch.equal(image[:, 0, 0], torch.from_numpy(_normalised(np.array([0, 255, 0]))))


def test_a_class_folder_without_images_keeps_its_name_and_index(folder: Path) -> None:
    (folder / "dingo").mkdir()
    ds = load_image_folder(folder, size=8)
    assert ds.class_names == ["cat", "dingo", "dog", "emu"]
    assert ds.labels.tolist() == [0, 0, 2, 3, 3, 3]


@pytest.mark.parametrize(
    ("width", "height", "resize", "resized", "left", "top"),
    [
        (100, 50, 40, (80, 40), 24, 4),
        # default resize round(32 * 256 / 224) = 37; the top offset (37 - 32) / 2 = 2.5 rounds to 2
        (100, 50, None, (74, 37), 21, 2),
        (50, 100, 40, (40, 80), 4, 24),
    ],
)
def test_an_image_is_resized_on_its_shorter_side_centre_cropped_and_normalised(
    tmp_path: Path, width: int, height: int, resize: int | None, resized: tuple[int, int], left: int, top: int
) -> None:
    red_blue = _red_blue(width, height)
    # Noise varies along both axes, so an off-by-one crop offset in either shows.
    noise = Image.fromarray(np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8))
    (tmp_path / "c").mkdir()
    red_blue.save(tmp_path / "c" / "a.png")
    noise.save(tmp_path / "c" / "b.png")
    ds = load_image_folder(tmp_path, size=32, resize=resize)

    for index, picture in enumerate([red_blue, noise]):
        image, _ = ds[index]
        resized_by_hand = np.asarray(picture.resize(resized, Image.Resampling.BILINEAR))
        by_hand = resized_by_hand[top : top + 32, left : left + 32]
        assert image.shape == (3, 32, 32)
        assert torch.equal(image, torch.from_numpy(_normalised(by_hand).transpose(2, 0, 1).copy()))
    # Columns far from the red/blue edge are pure colours whatever the filter does.
    image, _ = ds[0]
    red, blue = (torch.from_numpy(_normalised(np.array(c))) for c in (RED, BLUE))
    assert torch.equal(image[:, 0, 0], red) and torch.equal(image[:, -1, 0], red)
    assert torch.equal(image[:, 0, -1], blue) and torch.equal(image[:, -1, -1], blue)


@pytest.mark.parametrize("off", [{"mean": None}, {"std": None}])
def test_without_normalisation_pixels_stay_in_0_1(tmp_path: Path, off: dict) -> None:
    (tmp_path / "c").mkdir()
    _red_blue(40, 20).save(tmp_path / "c" / "x.png")
    image, _ = load_image_folder(tmp_path, size=16, resize=20, **off)[0]
    assert image.min() == 0 and image.max() == 1
    assert image[:, 0, 0].tolist() == [1, 0, 0] and image[:, 0, -1].tolist() == [0, 0, 1]


def test_custom_normalisation_is_applied_per_channel(tmp_path: Path) -> None:
    _save(tmp_path / "c" / "x.png", colour=(255, 0, 51))
    image, _ = load_image_folder(tmp_path, size=4, mean=(0.5, 0.0, 0.1), std=(0.5, 2.0, 0.1))[0]
    assert torch.allclose(image[:, 1, 1], torch.tensor([1.0, 0.0, 1.0]))


def test_extensions_match_any_case_and_hidden_loose_and_other_files_are_skipped(tmp_path: Path) -> None:
    cls = tmp_path / "cls"
    for name in ["A.JPG", "b.jpeg", "c.PNG", ".hidden.jpg"]:
        _save(cls / name)
    (cls / "notes.txt").write_text("not an image")
    (cls / "folder.jpg").mkdir()
    _save(cls / "deeper" / "d.jpg")
    _save(tmp_path / "loose.jpg")
    _save(tmp_path / ".ipynb_checkpoints" / "e.jpg")

    ds = load_image_folder(tmp_path, size=8)
    assert ds.class_names == ["cls"]
    assert [f.name for f in ds.files] == ["A.JPG", "b.jpeg", "c.PNG"]
    assert [f.name for f in load_image_folder(tmp_path, size=8, extensions=["PNG"]).files] == ["c.PNG"]


def test_fingerprint_is_stable_and_follows_files_and_settings(folder: Path, tmp_path: Path) -> None:
    first = load_image_folder(folder, size=8).fingerprint()
    assert len(first) == 64 and int(first, 16) >= 0
    assert load_image_folder(folder, size=8).fingerprint() == first
    assert load_image_folder(folder, size=8, resize=9).fingerprint() == first, "9 is the default resize"
    for changed in [
        {"size": 7, "resize": 9},
        {"resize": 10},
        {"mean": (0.5, 0.5, 0.5)},
        {"std": (0.5, 0.5, 0.5)},
        {"mean": None},
    ]:
        assert load_image_folder(folder, **{"size": 8, **changed}).fingerprint() != first, changed

    moved = folder.rename(tmp_path / "moved")
    assert load_image_folder(moved, size=8).fingerprint() == first, "moving the whole folder keeps it"

    (moved / "dingo").mkdir()
    assert load_image_folder(moved, size=8).fingerprint() != first, "an empty class shifts the labels"
    (moved / "dingo").rmdir()

    _save(moved / "cat" / "cat2.png")
    added = load_image_folder(moved, size=8).fingerprint()
    assert added != first

    (moved / "cat" / "cat2.png").rename(moved / "cat" / "cat3.png")
    renamed = load_image_folder(moved, size=8).fingerprint()
    assert renamed not in (first, added)


def test_fingerprint_sees_a_file_rewritten_in_place(folder: Path) -> None:
    ds = load_image_folder(folder, size=8)
    target = folder / "dog" / "dog0.png"
    stat = target.stat()
    before = ds.fingerprint()

    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    touched = ds.fingerprint()
    assert touched != before

    _save(target, size=(30, 30))
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert target.stat().st_size != stat.st_size
    assert ds.fingerprint() not in (before, touched)


def test_fingerprint_reads_no_pixels(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ds = load_image_folder(folder, size=8)
    expected = ds.fingerprint()

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("fingerprint opened an image")

    monkeypatch.setattr(Image, "open", refuse)
    monkeypatch.setattr(Path, "read_bytes", refuse)
    assert ds.fingerprint() == expected


def test_fingerprint_of_a_deleted_file_says_to_reload(folder: Path) -> None:
    ds = load_image_folder(folder, size=8)
    (folder / "emu" / "emu1.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"emu1\.png.*load the folder again"):
        ds.fingerprint()


def test_missing_root_and_a_file_as_root_are_explained(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nowhere does not exist.*one sub-folder per class"):
        load_image_folder(tmp_path / "nowhere")
    with pytest.raises(NotADirectoryError, match=r"not a folder"):
        load_image_folder(_save(tmp_path / "x.jpg"))


def test_a_root_without_class_folders_is_explained(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"no class sub-folder: put the images in one sub-folder per class"):
        load_image_folder(tmp_path)
    _save(tmp_path / "a.jpg")
    _save(tmp_path / "b.png")
    with pytest.raises(ValueError, match=r"the 2 image file\(s\) directly in it must be moved"):
        load_image_folder(tmp_path)


def test_class_folders_without_images_are_explained(tmp_path: Path) -> None:
    (tmp_path / "cat").mkdir()
    (tmp_path / "dog").mkdir()
    (tmp_path / "dog" / "readme.txt").write_text("no images here")
    with pytest.raises(ValueError, match=r"no image file found in the 2 class folder\(s\).*cat, dog") as info:
        load_image_folder(tmp_path)
    for extension in [".jpg", ".jpeg", ".png", ".webp", ".tiff"]:
        assert extension in str(info.value)


@pytest.mark.parametrize(
    ("settings", "error", "message"),
    [
        ({"size": 0}, ValueError, r"size must be a positive integer .*got 0"),
        ({"size": -3}, ValueError, r"size must be a positive integer"),
        ({"size": 2.5}, TypeError, r"size must be a positive integer .*got 2\.5"),
        ({"size": True}, TypeError, r"size must be a positive integer"),
        ({"size": "224"}, TypeError, r"size must be a positive integer"),
        ({"resize": 0}, ValueError, r"resize must be a positive integer"),
        ({"size": 32, "resize": 30}, ValueError, r"resize=30 is smaller than size=32.*resize=32"),
        ({"mean": (0.5, 0.5)}, ValueError, r"mean must be 3 numbers"),
        ({"std": (0.2, 0.0, 0.2)}, ValueError, r"std must be 3 positive numbers"),
        ({"std": 0.5}, TypeError, r"std must be 3 positive numbers"),
        ({"num_workers": -1}, ValueError, r"num_workers must be a non-negative integer"),
        ({"extensions": []}, ValueError, r"extensions must be file extensions"),
    ],
)
def test_bad_settings_are_explained(folder: Path, settings: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        load_image_folder(folder, **settings)


def test_a_file_pillow_cannot_decode_is_named(folder: Path) -> None:
    (folder / "cat" / "x.jpg").write_bytes(b"this is not a jpeg" * 10)
    ds = load_image_folder(folder, size=8)
    assert ds.files[2].name == "x.jpg"
    ds[1]  # the others still read
    with pytest.raises(OSError, match=r"could not read the image file .*cat[/\\]x\.jpg") as info:
        ds[2]
    assert isinstance(info.value.__cause__, UnidentifiedImageError)


def test_a_data_loader_with_workers_gives_what_indexing_gives(folder: Path) -> None:
    for i in range(4):
        _red_blue(20 + 3 * i, 14 + i).save(folder / "dog" / f"rb{i}.png")
    ds = load_image_folder(folder, size=8, resize=9, num_workers=2)
    assert ds.num_workers == 2
    batches = list(DataLoader(ds, batch_size=4, num_workers=ds.num_workers))
    assert [len(b[0]) for b in batches] == [4, 4, 2]
    images = torch.cat([b[0] for b in batches])
    labels = torch.cat([b[1] for b in batches])
    assert torch.equal(images, torch.stack([ds[i][0] for i in range(len(ds))]))
    assert labels.tolist() == ds.labels.tolist()


def test_it_pickles_for_spawned_workers(folder: Path) -> None:
    ds = load_image_folder(folder, size=8, mean=None)
    copy = pickle.loads(pickle.dumps(ds))
    assert copy.files == ds.files and copy.class_names == ds.class_names
    assert copy.fingerprint() == ds.fingerprint()
    assert torch.equal(copy[5][0], ds[5][0])


def test_repr_says_how_many_images_classes_where_and_size(folder: Path) -> None:
    assert repr(load_image_folder(folder, size=8)) == f"ImageFolder(6 images in 3 classes from {folder}, 8x8)"
    for extra in ["cat", "dog"]:
        shutil.rmtree(folder / extra)
    assert repr(load_image_folder(folder, size=8)).startswith("ImageFolder(3 images in 1 class ")
    for name in ["emu1.png", "emu2.png"]:
        (folder / "emu" / name).unlink()
    assert repr(load_image_folder(folder, size=8)).startswith("ImageFolder(1 image in 1 class ")
    assert isinstance(load_image_folder(folder), ImageFolder)
    assert repr(load_image_folder(folder)).endswith("224x224)")


def test_classes_put_the_folders_in_the_models_output_order(folder: Path) -> None:
    ds = load_image_folder(folder, size=8, classes=["zebra", "emu", "cat", "dog"])
    assert ds.class_names == ["zebra", "emu", "cat", "dog"]
    assert ds.labels.tolist() == [1, 1, 1, 2, 2, 3], "files class by class in the given order; zebra has none"
    assert [f.parent.name for f in ds.files] == ["emu"] * 3 + ["cat"] * 2 + ["dog"]
    assert ds[5][1] == 3 and ds.fingerprint() != load_image_folder(folder, size=8).fingerprint()


@pytest.mark.parametrize(
    ("classes", "error", "said"),
    [
        (["cat", "dog"], ValueError, "emu of .* are not among the 2 classes given"),
        (["cat", "dog", "emu", "cat"], ValueError, "named twice: cat"),
        ("cat", TypeError, "list of class names"),
    ],
)
def test_wrong_classes_say_what_is_wrong(folder: Path, classes: object, error: type, said: str) -> None:
    with pytest.raises(error, match=said):
        load_image_folder(folder, size=8, classes=classes)


def test_a_saved_dataset_reads_back_with_its_labels(tmp_path: Path) -> None:
    from innersight_widgets import load_digits, load_shapes, save_image_folder

    shapes = load_shapes("test", n=30)
    root = save_image_folder(shapes, tmp_path / "shapes")
    back = load_image_folder(root, size=64, resize=64, mean=None, std=None, classes=shapes.class_names)
    order = np.argsort(shapes.labels.numpy(), kind="stable")
    assert back.labels.tolist() == shapes.labels.numpy()[order].tolist()
    images = torch.stack([back[i][0] for i in range(len(back))])
    assert (images - shapes.images[order]).abs().max() <= 0.5 / 255 + 1e-6, "8-bit rounding only"
    digits = save_image_folder(load_digits(split="test"), tmp_path / "digits")
    assert Image.open(next(digits.glob("*/*.png"))).mode == "L", "one channel stays grayscale"
    with pytest.raises(ValueError, match="is not empty"):
        save_image_folder(shapes, root)
    with pytest.raises(ValueError, match=r"values in \[0, 1\]"):
        save_image_folder(type(shapes)(shapes.images * 2 - 1, shapes.labels, shapes.class_names), tmp_path / "signed")


def test_a_folder_whose_classes_are_the_models_in_another_order_is_read_in_the_models_order(tmp_path):
    """The shapes' folders sort as circle, square, star, triangle; shapes-cnn's outputs are
    circle, square, triangle, star. Read in sorted order, stars were labelled triangles."""
    from innersight_widgets import Analysis, load_pretrained, load_shapes, save_image_folder

    save_image_folder(load_shapes("test", n=200), tmp_path / "shapes")
    model = load_pretrained("shapes-cnn")
    folder = load_image_folder(tmp_path / "shapes", size=64, resize=64, mean=None, std=None)
    assert folder.class_names == sorted(model.class_names) != model.class_names
    with pytest.warns(UserWarning, match=r"the model's class_names in another order; they are read in the model's order"):
        an = Analysis(model, folder, layers=["layer3"], progress=False)
    assert an.data.class_names == model.class_names
    assert an.predictions.accuracy >= 0.95
    chosen = load_image_folder(tmp_path / "shapes", size=64, resize=64, mean=None, std=None, classes=sorted(model.class_names))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an order given with classes= is the user's: kept, no warning
        kept = Analysis(model, chosen, layers=["layer3"], progress=False)
    assert kept.data.class_names == sorted(model.class_names)


def test_labels_that_look_permuted_are_named_when_the_model_has_no_class_names(tmp_path):
    """Without class_names on the model nothing can reorder the folder; an accuracy that a
    relabelling of the classes would lift from 0.5 to 1 is said, with what to pass."""
    from innersight_widgets import Analysis, load_pretrained, load_shapes, save_image_folder

    save_image_folder(load_shapes("test", n=200), tmp_path / "shapes")
    model = load_pretrained("shapes-cnn")
    order = model.class_names
    del model.class_names
    sorted_folder = load_image_folder(tmp_path / "shapes", size=64, resize=64, mean=None, std=None)
    an = Analysis(model, sorted_folder, layers=["layer3"], progress=False)
    with pytest.warns(UserWarning, match=r"the labels look permuted") as caught:
        accuracy = an.predictions.accuracy
    message = str(caught[0].message)
    assert "'star' (label 2) as output 3" in message and "'triangle' (label 3) as output 2" in message
    assert "classes=[...]" in message
    assert f"{accuracy:.3f} with the data's class order" in message

    right = load_image_folder(tmp_path / "shapes", size=64, resize=64, mean=None, std=None, classes=order)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert Analysis(model, right, layers=["layer3"], progress=False).predictions.accuracy >= 0.95
