"""``Analysis``: one streaming pass of a model over probe images, and what is built on it
(ablation, flow edges, receptive fields, and the entry points to communities)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal

import networkx as nx
import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ..data import ImageDataset, as_image_dataset

from . import _cache, _flow, _receptive
from ._device import resolve_device
from ._layers import LayerInfo, default_layers, discover, hooked, resolve
from ._neurons import build_neuron_set
from .communities import Aggregator, Communities
from .evaluation import CommunityReport
from .graphs import neuron_graph
from .results import AblationResult, Predictions, TopImages

AblationSpec = Mapping[str, Iterable[int]]


class Cancelled(Exception):
    """A long computation stopped because its ``should_stop`` callback said so."""


class Analysis:
    """Pooled activations of chosen layers of a model over a set of probe images.

    One pass over the data, with forward hooks on every selected layer, collects each
    neuron's *profile* (its activation pooled over space or tokens, one number per
    image), the position of its maximum, and the model's logits. Memory grows with
    images x neurons, never with full activation maps. The pass runs on first use and
    is cached on disk when ``cache_dir`` is given.

    Parameters
    ----------
    model: any ``nn.Module`` returning logits (N x K). It is moved to ``device`` and put
        in eval mode.
    data: an ``ImageDataset``, an ``(images, labels)`` pair, a ``DataLoader`` or a
        map-style ``Dataset`` of ``(image, label)``.
    layers: ``model.named_modules()`` names. Default: every conv and linear layer.
    device: ``"cpu"``, ``"cuda"``...; default CUDA when present, else CPU.
    pooling: ``"mean"`` or ``"max"`` over space/tokens.
    cache_dir: folder for the on-disk cache of the pass (npz + JSON, no pickle).
    class_names: names of the model's K outputs, if the data does not carry them.

    Example
    -------
    >>> from innersight_widgets import Analysis, load_pretrained, load_digits
    >>> an = Analysis(load_pretrained("digits-cnn"), load_digits(split="test"), progress=False)
    >>> an.profiles("conv2").shape
    (450, 32)
    """

    def __init__(
        self,
        model: nn.Module,
        data: Any,
        layers: Sequence[str] | None = None,
        device: str | torch.device | None = None,
        batch_size: int = 256,
        pooling: Literal["mean", "max"] = "mean",
        cache_dir: str | os.PathLike | None = None,
        progress: bool = True,
        class_names: Sequence[str] | None = None,
    ) -> None:
        if pooling not in ("mean", "max"):
            raise ValueError(f"pooling must be 'mean' or 'max', got {pooling!r}")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if class_names is None and not isinstance(data, ImageDataset):
            class_names = getattr(model, "class_names", None)
        self.data = as_image_dataset(data, class_names)
        self.device = resolve_device(device)
        self.model = model.to(self.device).eval()
        self.batch_size = batch_size
        self.pooling = pooling
        self.cache_dir = cache_dir
        self.progress = progress

        self._layer_info, output = discover(self.model, self.data.images[:2].to(self.device))
        self._check_output(output)
        if layers is None:
            layers = default_layers(self.model, self._layer_info)
        elif isinstance(layers, str):
            layers = [layers]
        self.layers = resolve(layers, list(self._layer_info))
        if not self.layers:
            raise ValueError("no layers selected; name some with layers=[...] (see available_layers())")
        self._stats: dict[str, np.ndarray] | None = None
        self._aggregators: dict[tuple[str, ...], Aggregator] = {}
        self._flows: dict[tuple[str, str, str, int], np.ndarray] = {}
        self._fields: dict[str, _receptive.ReceptiveField] = {}

    # ----------------------------------------------------------------- layers
    def available_layers(self) -> list[LayerInfo]:
        """Every module with a B x F, B x T x D or B x C x H x W output, with its shape."""
        return list(self._layer_info.values())

    def layer_info(self, layer: str) -> LayerInfo:
        resolve([layer], list(self._layer_info))
        return self._layer_info[layer]

    def _selected(self, layer: str) -> LayerInfo:
        info = self.layer_info(layer)
        if layer not in self.layers:
            raise ValueError(
                f"layer {layer!r} was not selected for this analysis (selected: "
                f"{', '.join(self.layers)}); create the Analysis with layers=[..., {layer!r}]"
            )
        return info

    def class_index(self, target: int | str) -> int:
        """A class given by index or by name, checked against the data's class names."""
        names = self.data.class_names
        if isinstance(target, str):
            if target not in names:
                raise ValueError(f"unknown class {target!r}; the classes are {', '.join(names)}")
            return names.index(target)
        if not isinstance(target, (int, np.integer)) or not 0 <= target < len(names):
            raise ValueError(
                f"target_class must be a class index in 0..{len(names) - 1} or a name in {names}, got {target!r}"
            )
        return int(target)

    # ------------------------------------------------------------- statistics
    def profiles(self, layer: str) -> np.ndarray:
        """N x C: each neuron's pooled activation on each probe image."""
        self._selected(layer)
        return self._pass()[f"profiles:{layer}"]

    def class_means(self, layer: str) -> np.ndarray:
        """K x C: the mean profile over the images of each class (NaN for an absent class)."""
        profiles = self.profiles(layer)
        labels = self.data.labels.numpy()
        k = self.data.num_classes
        sums = np.zeros((k, profiles.shape[1]))
        np.add.at(sums, labels, profiles)
        counts = np.bincount(labels, minlength=k)[:, None]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan).astype(np.float32)

    def neuron_means(self, layer: str) -> np.ndarray:
        """C: each neuron's mean activation over all probe images and positions."""
        self._selected(layer)
        return self._pass()[f"means:{layer}"]

    def top_images(self, layer: str, neuron: int, k: int = 16) -> TopImages:
        """The k probe images on which the neuron's profile is highest, best first."""
        info = self._selected(layer)
        neuron = self._check_neuron(info, neuron)
        if not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        scores = self.profiles(layer)[:, neuron]
        order = np.argsort(-scores, kind="stable")[:k]
        positions = None
        if info.spatial_shape:
            flat = self._pass()[f"argmax:{layer}"][order, neuron]
            positions = np.stack(np.unravel_index(flat, info.spatial_shape), axis=1)
        return TopImages(layer, neuron, order, scores[order], positions)

    @property
    def predictions(self) -> Predictions:
        """The model's logits and predicted classes on every probe image."""
        return Predictions(self._pass()["logits"], self.data.labels.numpy(), self.data.class_names)

    # ---------------------------------------------------------------- ablation
    def ablate(self, spec: AblationSpec, mode: Literal["zero", "mean"] = "zero") -> AblationResult:
        """Replace the given neurons' outputs (zero, or their probe-set mean) and re-evaluate.

        ``spec`` maps layer names to neuron indices, e.g. ``{"conv2": [0, 5, 7]}``.
        """
        return self.ablate_many([spec], mode)[0]

    def ablate_many(
        self,
        specs: Sequence[AblationSpec],
        mode: Literal["zero", "mean"] = "zero",
        should_stop: Callable[[], bool] | None = None,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> list[AblationResult]:
        """Several ablations in one batched pass: each batch is copied once per ablation.

        Gives the same results as calling :meth:`ablate` on each spec. ``should_stop`` is
        asked between batches; when it returns True the work ends with :class:`Cancelled`.
        ``on_progress(done, total)`` hears after each batch how many image copies are done.
        """
        if mode not in ("zero", "mean"):
            raise ValueError(f"mode must be 'zero' or 'mean', got {mode!r}")
        checked = [self._check_spec(spec, mode) for spec in specs]
        if not checked:
            return []
        stats = self._pass()
        logits_after = _run_ablations(self, checked, mode, stats, should_stop, on_progress)
        return [
            AblationResult(
                spec,
                mode,
                self.data.class_names,
                self.data.labels.numpy(),
                stats["logits"],
                after,
            )
            for spec, after in zip(checked, logits_after)
        ]

    # ------------------------------------------------------------ communities
    def communities(
        self,
        layers: Sequence[str] | str | None = None,
        method: Literal["louvain", "leiden", "agglomerative", "spectral"] = "louvain",
        *,
        seed: int = 0,
        stability_runs: int = 3,
        **params: Any,
    ) -> Communities:
        """Partition the neurons of ``layers`` (default: all selected) into communities.

        Parameters by method (all also take ``k`` neighbours and ``min_corr`` for the
        similarity graph, on which modularity is reported):
        ``louvain``/``leiden``: ``resolution``; ``agglomerative``: ``threshold`` (a cut of
        the 1 - correlation dendrogram) and ``linkage``; ``spectral``: ``n_communities``.
        The correlation, dendrogram and embedding are computed once per set of layers, so
        calling again with a new value is fast. ``stability_runs`` re-runs with other seeds
        (agglomerative: bootstrap resamples of the images) and reports the mean adjusted
        Rand index; 0 skips it.
        """
        return self._aggregator(self._layer_list(layers)).communities(method, params, seed, stability_runs)

    def evaluate(self, communities: Communities) -> CommunityReport:
        """Top images and patches, class selectivity, ablation importance against random sets,
        coherence, flow between communities, and concept labels of each community."""
        return CommunityReport(self, communities)

    def flow(self, lower: str, upper: str, method: Literal["gradient", "weights"] = "gradient", images: int = 256) -> np.ndarray:
        """C_upper x C_lower flow edges: mean |gradient x activation| of each upper neuron's
        pooled activation with respect to each lower neuron's map, over ``images`` probe
        images (a fixed seeded sample); or ``method="weights"``: |W| of a directly
        connected upper conv/linear layer."""
        low, up = self.layer_info(lower), self.layer_info(upper)
        if method not in ("gradient", "weights"):
            raise ValueError(f"flow method must be 'gradient' or 'weights', got {method!r}")
        if not isinstance(images, (int, np.integer)) or images < 1:
            raise ValueError(f"images must be a positive integer, got {images!r}")
        key = (lower, upper, method, int(images))
        if key not in self._flows:
            if method == "weights":
                self._flows[key] = _flow.weight_flow(self.model, low, up)
            else:
                n = len(self.data)
                sample = np.sort(np.random.default_rng(0).permutation(n)[: min(images, n)])
                self._flows[key] = _flow.gradient_flow(self, low, up, sample)
        return self._flows[key]

    def neuron_graph(
        self,
        layers: Sequence[str] | str | None = None,
        k: int = 10,
        min_corr: float = 0.0,
        flow: Literal["gradient", "weights"] | None = "gradient",
        flow_top: int = 5,
        communities: Communities | None = None,
    ) -> nx.DiGraph:
        """The neuron graph of METHODS.md: similarity edges (kNN of profile correlation) and
        flow edges between consecutive layers; export with ``export_graph``."""
        from .communities import check_params

        check_params("louvain", {"k": k, "min_corr": min_corr})
        return neuron_graph(self, self._layer_list(layers), k, min_corr, flow, flow_top, communities)

    def receptive_box(self, layer: str, image: int, neuron: int) -> tuple[int, int, int, int]:
        """(top, left, bottom, right) input pixels seen by ``neuron`` where it peaks on ``image``."""
        info = self._selected(layer)
        neuron = self._check_neuron(info, neuron)
        if layer not in self._fields:
            self._fields[layer] = _receptive.measure(self, layer)
        flat = self._pass()[f"argmax:{layer}"][image, neuron]
        row, col = np.unravel_index(flat, info.spatial_shape)
        return self._fields[layer].box(int(row), int(col))

    # --------------------------------------------------------------- internals
    def _layer_list(self, layers: Sequence[str] | str | None) -> list[str]:
        if layers is None:
            return list(self.layers)
        layers = [layers] if isinstance(layers, str) else list(layers)
        if not layers:
            raise ValueError("give at least one layer")
        for layer in layers:
            self._selected(layer)
        # keep the model's order so that "consecutive layers" means lower -> upper
        return [layer for layer in self.layers if layer in set(layers)]

    def _aggregator(self, layers: Sequence[str]) -> Aggregator:
        key = tuple(layers)
        if key not in self._aggregators:
            profiles = {layer: self.profiles(layer) for layer in key}
            self._aggregators[key] = Aggregator(build_neuron_set(profiles, self.device))
        return self._aggregators[key]

    def _check_output(self, output: object) -> None:
        if not isinstance(output, torch.Tensor) or output.ndim != 2:
            what = type(output).__name__ if not isinstance(output, torch.Tensor) else f"shape {tuple(output.shape)}"
            raise TypeError(
                f"the model must return logits of shape N x K, but it returned {what}; "
                "wrap it in a module whose forward returns the logits tensor"
            )
        if output.shape[1] != self.data.num_classes:
            raise ValueError(
                f"the model has {output.shape[1]} outputs but the data names "
                f"{self.data.num_classes} classes; pass class_names with one name per output"
            )

    @staticmethod
    def _check_neuron(info: LayerInfo, neuron: Any) -> int:
        if not isinstance(neuron, (int, np.integer)) or not 0 <= neuron < info.num_neurons:
            raise ValueError(
                f"neuron must be an index in 0..{info.num_neurons - 1} for layer {info.name!r}, got {neuron!r}"
            )
        return int(neuron)

    def _check_spec(self, spec: AblationSpec, mode: str) -> dict[str, tuple[int, ...]]:
        if not isinstance(spec, Mapping):
            raise TypeError(f"an ablation is a dict {{layer: [neuron, ...]}}, got {type(spec).__name__}")
        checked = {}
        for layer, neurons in spec.items():
            info = self._selected(layer) if mode == "mean" else self.layer_info(layer)
            values = np.asarray(neurons.cpu() if isinstance(neurons, torch.Tensor) else list(neurons))
            if values.size and not np.issubdtype(values.dtype, np.integer):
                raise TypeError(f"neurons of layer {layer!r} must be integer indices, got {values.dtype}")
            indices = sorted({self._check_neuron(info, n) for n in values.reshape(-1).tolist()})
            checked[layer] = tuple(indices)
        return checked

    def _settings(self) -> dict[str, Any]:
        return {"layers": self.layers, "pooling": self.pooling}

    def _expected_shapes(self) -> dict[str, tuple[int, ...]]:
        n = len(self.data)
        shapes: dict[str, tuple[int, ...]] = {"logits": (n, self.data.num_classes)}
        for name in self.layers:
            info = self._layer_info[name]
            shapes[f"profiles:{name}"] = (n, info.num_neurons)
            shapes[f"means:{name}"] = (info.num_neurons,)
            if info.spatial_shape:
                shapes[f"argmax:{name}"] = (n, info.num_neurons)
        return shapes

    def _pass(self) -> dict[str, np.ndarray]:
        if self._stats is not None:
            return self._stats
        expected = self._expected_shapes()
        path = key = None
        if self.cache_dir is not None:
            key = _cache.fingerprint(self.model, self.data.images, self.data.labels, self._settings())
            path = _cache.path_for(self.cache_dir, key)
            self._stats = _cache.load(path, key, expected)
        if self._stats is None:
            self._stats = _streaming_pass(self)
            if path is not None:
                _cache.save(path, key, self._stats, {"settings": self._settings()})
        return self._stats


def _batches(n: int, size: int) -> Iterable[slice]:
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def _neurons_first(out: torch.Tensor, axis: int) -> torch.Tensor:
    """B x C x (everything pooled over, flattened), whatever the layer's layout."""
    if axis != 1:
        out = out.movedim(axis, 1)
    return out.reshape(out.shape[0], out.shape[1], -1)


def _streaming_pass(an: Analysis) -> dict[str, np.ndarray]:
    """Hooks reduce each selected layer's output on the device as the batches stream through."""
    n, dev = len(an.data), an.device
    infos = [an._layer_info[name] for name in an.layers]
    profiles = {i.name: torch.empty(n, i.num_neurons, device=dev) for i in infos}
    argmax = {i.name: torch.empty(n, i.num_neurons, dtype=torch.int32, device=dev) for i in infos if i.spatial_shape}
    mean_sums = {i.name: torch.zeros(i.num_neurons, dtype=torch.float64, device=dev) for i in infos}
    logits = torch.empty(n, an.data.num_classes, device=dev)
    where: dict[str, slice] = {}

    def reducer(info: LayerInfo):
        def hook(_module: nn.Module, _inputs: object, out: torch.Tensor) -> None:
            flat = _neurons_first(out.detach(), info.channel_axis).float()
            rows = where["rows"]
            if an.pooling == "max":
                pooled, position = flat.max(dim=2)
                mean_sums[info.name] += flat.mean(dim=2).sum(dim=0, dtype=torch.float64)
            else:
                pooled = flat.mean(dim=2)
                position = flat.argmax(dim=2) if info.spatial_shape else None
                mean_sums[info.name] += pooled.sum(dim=0, dtype=torch.float64)
            profiles[info.name][rows] = pooled
            if info.spatial_shape:
                argmax[info.name][rows] = position.int()

        return hook

    hooks = {info.name: reducer(info) for info in infos}
    with hooked(an.model, hooks), torch.inference_mode(), tqdm(
        total=n, desc="probe pass", unit="img", disable=not an.progress, leave=False
    ) as bar:
        for rows in _batches(n, an.batch_size):
            where["rows"] = rows
            x = an.data.images[rows].to(dev, non_blocking=True)
            logits[rows] = an.model(x).float()
            bar.update(rows.stop - rows.start)

    stats = {"logits": logits.cpu().numpy()}
    for info in infos:
        stats[f"profiles:{info.name}"] = profiles[info.name].cpu().numpy()
        stats[f"means:{info.name}"] = (mean_sums[info.name] / n).float().cpu().numpy()
        if info.spatial_shape:
            stats[f"argmax:{info.name}"] = argmax[info.name].cpu().numpy()
    return stats


def _run_ablations(
    an: Analysis,
    specs: list[dict[str, tuple[int, ...]]],
    mode: str,
    stats: dict[str, np.ndarray],
    should_stop: Callable[[], bool] | None,
    on_progress: Callable[[int, int], None] | None,
) -> np.ndarray:
    """S x N x K logits with each spec applied; a forward carries one copy of a batch per spec."""
    n, dev, s_total = len(an.data), an.device, len(specs)
    layers = sorted({layer for spec in specs for layer in spec})
    masks: dict[str, np.ndarray] = {}
    fills: dict[str, torch.Tensor] = {}
    for layer in layers:
        info = an._layer_info[layer]
        masks[layer] = np.zeros((s_total, info.num_neurons), dtype=bool)
        for row, spec in enumerate(specs):
            masks[layer][row, list(spec.get(layer, ()))] = True
        fill = stats[f"means:{layer}"] if mode == "mean" else np.zeros(info.num_neurons, np.float32)
        fills[layer] = torch.as_tensor(fill, device=dev)

    copies = min(s_total, an.batch_size)
    images_per_batch = max(1, an.batch_size // copies)
    out = np.empty((s_total, n, an.data.num_classes), dtype=np.float32)
    current: dict[str, torch.Tensor] = {}
    done = 0

    def replacer(info: LayerInfo):
        def hook(_module: nn.Module, _inputs: object, output: torch.Tensor) -> torch.Tensor | None:
            mask = current.get(info.name)
            if mask is None:
                return None
            copies_now = mask.shape[0]
            grouped = output.reshape(copies_now, output.shape[0] // copies_now, *output.shape[1:])
            shape = [copies_now, 1] + [1] * (output.ndim - 1)
            shape[1 + info.channel_axis] = info.num_neurons
            fill_shape = [1] * len(shape)
            fill_shape[1 + info.channel_axis] = info.num_neurons
            fill = fills[info.name].to(output.dtype).view(fill_shape)
            return torch.where(mask.view(shape), fill, grouped).reshape(output.shape)

        return hook

    hooks = {layer: replacer(an._layer_info[layer]) for layer in layers}
    with hooked(an.model, hooks), torch.inference_mode(), tqdm(
        total=s_total * n, desc="ablation", unit="img", disable=not an.progress, leave=False
    ) as bar:
        for chunk in _batches(s_total, copies):
            current.clear()
            for layer in layers:
                if masks[layer][chunk].any():
                    current[layer] = torch.as_tensor(masks[layer][chunk], device=dev)
            k = chunk.stop - chunk.start
            for rows in _batches(n, images_per_batch):
                if should_stop is not None and should_stop():
                    raise Cancelled("ablation stopped: a newer request replaced it")
                x = an.data.images[rows].to(dev, non_blocking=True)
                batch = x.unsqueeze(0).expand(k, *x.shape).reshape(k * x.shape[0], *x.shape[1:])
                logits = an.model(batch).float().reshape(k, x.shape[0], -1)
                out[chunk, rows] = logits.cpu().numpy()
                bar.update(k * x.shape[0])
                done += k * x.shape[0]
                if on_progress is not None:
                    on_progress(done, s_total * n)
    return out
