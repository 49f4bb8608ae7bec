"""Lazy probe data: datasets, DataLoaders, PIL items and image folders are read batch by
batch and give the same results as the same images held in memory."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, IterableDataset

from innersight_widgets import Analysis, ProbeSet, load_pretrained, load_shapes
from innersight_widgets.data.folder import load_image_folder
from innersight_widgets.neucept.critical import saliency

LAYERS = ["conv", "block.0", "tokens", "head"]


class Items(Dataset):
    """A map-style dataset that counts reads and keeps no labels attribute."""

    def __init__(self, images, labels, pil=False):
        self._images, self._labels, self.pil, self.reads = images, labels, pil, 0

    def __len__(self):
        return len(self._images)

    def __getitem__(self, i):
        self.reads += 1
        image = self._images[i]
        if self.pil:
            pixels = (image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
            image = Image.fromarray(pixels)
        return image, int(self._labels[i])


def assert_same_analysis(lazy: Analysis, memory: Analysis, layers=LAYERS) -> None:
    np.testing.assert_array_equal(lazy.labels, memory.labels)
    np.testing.assert_allclose(lazy.predictions.logits, memory.predictions.logits, rtol=1e-5, atol=1e-6)
    for layer in layers:
        np.testing.assert_allclose(lazy.profiles(layer), memory.profiles(layer), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(lazy.neuron_means(layer), memory.neuron_means(layer), rtol=1e-5, atol=1e-6)
    spec = {"conv": [1, 3]} if "conv" in layers else {layers[0]: [0]}
    np.testing.assert_allclose(lazy.ablate(spec).logits_after, memory.ablate(spec).logits_after, rtol=1e-5, atol=1e-6)


def test_a_lazy_dataset_gives_the_in_memory_results_and_reads_each_image_once(tiny_model, tiny_data):
    items = Items(tiny_data.images, tiny_data.labels)
    lazy = Analysis(tiny_model, items, layers=LAYERS, batch_size=8, progress=False, class_names=["a", "b", "c"])
    memory = Analysis(tiny_model, tiny_data, layers=LAYERS, batch_size=8, progress=False)
    assert not lazy.data.in_memory and lazy.data.labels is None  # learnt in the pass
    lazy.profiles("conv")
    assert items.reads == 2 + len(tiny_data)  # two images to learn the layers, then each image once
    assert_same_analysis(lazy, memory)
    torch.testing.assert_close(lazy.images([5, 0, 36]), tiny_data.images[[5, 0, 36]])
    np.testing.assert_array_equal(lazy.top_images("conv", 2, k=5).indices, memory.top_images("conv", 2, k=5).indices)


def test_a_shuffling_dataloader_is_read_in_dataset_order(tiny_model, tiny_data):
    loader = DataLoader(Items(tiny_data.images, tiny_data.labels), batch_size=5, shuffle=True)
    lazy = Analysis(tiny_model, loader, layers=LAYERS, progress=False, class_names=["a", "b", "c"])
    memory = Analysis(tiny_model, tiny_data, layers=LAYERS, progress=False)
    assert_same_analysis(lazy, memory)


def test_pil_items_are_converted_to_unit_range_tensors(tiny_model, tiny_data):
    quantised = (tiny_data.images * 255).round() / 255
    lazy = Analysis(tiny_model, Items(tiny_data.images, tiny_data.labels, pil=True), layers=LAYERS, progress=False,
                    class_names=["a", "b", "c"])
    memory = Analysis(tiny_model, (quantised, tiny_data.labels), layers=LAYERS, progress=False, class_names=["a", "b", "c"])
    assert_same_analysis(lazy, memory)


def test_a_lazy_dataset_never_holds_its_images(tiny_model):
    g = torch.Generator().manual_seed(3)
    # 400 images of 192 KiB: more than the 64 MiB the LRU cache keeps
    images, labels = torch.rand(400, 3, 128, 128, generator=g), torch.randint(0, 3, (400,), generator=g)
    an = Analysis(tiny_model, Items(images, labels), layers=["conv"], batch_size=32, progress=False, class_names=list("abc"))
    an.profiles("conv")
    for start in range(0, 400, 50):  # every image fetched, a view's worth at a time
        torch.testing.assert_close(an.images(range(start, start + 50)), images[start : start + 50])
    kept = {k: v for k, v in vars(an.data).items() if isinstance(v, torch.Tensor)}
    assert not kept, f"the probe set holds tensors: {list(kept)}"
    cached = an.data.cached_images()
    assert 0 < cached * images[0].nbytes <= 64 << 20


def test_an_image_folder_runs_end_to_end_and_is_fingerprinted_by_its_files(tmp_path):
    data = load_shapes("test", n=24)
    root = tmp_path / "images"
    for i, (image, label) in enumerate(zip(data.images, data.labels.tolist())):
        folder = root / f"{label}-{data.class_names[label]}"  # sorted folder names = the model's output order
        folder.mkdir(parents=True, exist_ok=True)
        pixels = (image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"{i:03d}.png")
    folder = load_image_folder(root, size=64, resize=64, mean=None, std=None)
    model = load_pretrained("shapes-cnn")
    an = Analysis(model, folder, layers=["layer2", "layer3"], cache_dir=tmp_path / "cache", progress=False)
    assert an.data.class_names == [f"{i}-{name}" for i, name in enumerate(data.class_names)]
    np.testing.assert_array_equal(np.sort(an.labels), np.sort(data.labels.numpy()))
    assert an.predictions.accuracy > 0.9  # the pixels round-trip exactly through PNG, so the model still sees shapes
    first = np.array(an.profiles("layer3"))
    again = Analysis(model, folder, layers=["layer2", "layer3"], cache_dir=tmp_path / "cache", progress=False)
    assert again.data.fingerprint() == an.data.fingerprint()
    np.testing.assert_array_equal(again.profiles("layer3"), first)
    # a new file changes the fingerprint
    Image.new("RGB", (64, 64)).save(next(root.iterdir()) / "extra.png")
    grown = load_image_folder(root, size=64, resize=64, mean=None, std=None)
    assert ProbeSet(grown).fingerprint() != an.data.fingerprint()


def test_saliency_and_patches_do_not_need_images_in_memory(tiny_model, tiny_data):
    lazy = Analysis(tiny_model, Items(tiny_data.images, tiny_data.labels), layers=LAYERS, progress=False,
                    class_names=["a", "b", "c"])
    memory = Analysis(tiny_model, tiny_data, layers=LAYERS, progress=False)
    np.testing.assert_allclose(saliency(lazy, "conv", 1, steps=4), saliency(memory, "conv", 1, steps=4), rtol=1e-5)
    lazy_report = lazy.evaluate(lazy.communities(["conv", "block.0"], stability_runs=0))
    memory_report = memory.evaluate(memory.communities(["conv", "block.0"], stability_runs=0))
    assert lazy_report.patches(0, 4) == memory_report.patches(0, 4)


class Stream(IterableDataset):
    def __iter__(self):
        yield torch.zeros(3, 8, 8), 0


@pytest.mark.parametrize("data", [Stream(), DataLoader(Stream())])
def test_iterable_data_is_refused_with_a_reason(tiny_model, data):
    with pytest.raises(TypeError, match="fetched by index"):
        Analysis(tiny_model, data, progress=False)


def test_labels_outside_the_class_names_are_reported_with_the_image(tiny_model, tiny_data):
    labels = tiny_data.labels.clone()
    labels[20] = 7
    an = Analysis(tiny_model, Items(tiny_data.images, labels), layers=LAYERS, progress=False, class_names=list("abc"))
    with pytest.raises(ValueError, match="image 20 has label 7"):
        an.profiles("conv")


def test_concept_annotations_of_lazy_data_label_communities_as_in_memory():
    shapes = load_shapes("test", n=200)
    lazy_data = ProbeSet(Items(shapes.images, shapes.labels), shapes.class_names, concepts=shapes.concepts)
    model = load_pretrained("shapes-cnn")
    labels = []
    for data in (lazy_data, shapes):
        an = Analysis(model, data, layers=["layer3"], progress=False)
        report = an.evaluate(an.communities("layer3", stability_runs=0))
        labels.append([(s.concept, s.value, round(s.auroc, 6)) for s in report.labels()])
    assert labels[0] == labels[1]
    assert {concept for concept, _, _ in labels[0]} <= {"shape", "colour", "texture", "class"}


class Relabelled(Items):
    """Announces labels that its items do not return (as a target_transform would)."""

    @property
    def labels(self):
        return (self._labels.numpy() + 1) % 3


def test_announced_labels_that_the_items_contradict_are_an_error(tiny_model, tiny_data):
    an = Analysis(tiny_model, Relabelled(tiny_data.images, tiny_data.labels), layers=LAYERS, progress=False,
                  class_names=list("abc"))
    with pytest.raises(ValueError, match="the dataset's labels .* says .* but the item returns"):
        an.profiles("conv")


def test_pil_images_with_16_bit_pixels_are_refused_not_clipped(tiny_model):
    class Deep(Dataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            return Image.fromarray(np.full((8, 8), 40000, dtype=np.uint16)), 0

    with pytest.raises(TypeError, match="would clip"):
        Analysis(tiny_model, Deep(), progress=False, class_names=list("abc"))


def test_subsets_and_renamed_probe_sets_keep_their_concepts():
    shapes = load_shapes("test", n=40)
    lazy = ProbeSet(Items(shapes.images, shapes.labels), shapes.class_names, concepts=shapes.concepts)
    for probe in (lazy, ProbeSet(shapes)):
        sub = probe.subset([3, 1, 4])
        assert sub.concepts["colour"].values.tolist() == shapes.concepts["colour"].values[[3, 1, 4]].tolist()
        assert set(probe.with_class_names(list("wxyz")).concepts) == {"shape", "colour", "texture"}
