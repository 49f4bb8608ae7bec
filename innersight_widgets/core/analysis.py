"""``Analysis``: one streaming pass of a model over probe images, and what is built on it
(ablation, flow edges, receptive fields, and the entry points to communities).

Every forward goes through the analysis's :class:`~.runner.ModelRunner`; the probe
images are read batch by batch from a :class:`~innersight_widgets.data.ProbeSet`, so
memory holds the model, a few batches and the statistics (N x C per layer), never the
images. Lazily computed caches are filled under a lock: one ``Analysis`` may be used by
a widget's worker and a notebook cell at once.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal

import networkx as nx
import numpy as np
import torch
from torch import nn
from tqdm.std import tqdm  # text bars: a widget bar leaves a dead view in a reopened notebook

from .._checks import positive_int
from ..data import ImageFolder, as_probe_set
from . import _cache, _distributed, _flow, _receptive
from ._layers import LayerInfo, default_layers, is_unit, resolve
from ._neurons import NeuronSet, build_neuron_set
from .communities import Aggregator, Communities
from .debugging import Confusions, confusions
from .evaluation import CommunityReport
from .graphs import neuron_graph
from .results import AblationResult, Predictions, TopImages, class_means
from .runner import Cancelled, ModelRunner, Precision, channel_replacer, chunks, neurons_first

AblationSpec = Mapping[str, Iterable[int]]

__all__ = ["Analysis", "Cancelled"]

# Device memory for the statistics of a block of images, before they are copied to the host.
_BLOCK_BYTES = 256 << 20


class Analysis:
    """Pooled activations of chosen layers of a model over a set of probe images.

    One pass over the data, with forward hooks on every selected layer, collects each
    neuron's *profile* (its activation pooled over space or tokens, one number per
    image), the position of its maximum, and the model's logits. Images are read batch
    by batch; memory grows with images x neurons, never with images or activation maps.
    The pass runs on first use and is cached on disk when ``cache_dir`` is given.

    In a ``torch.distributed`` job (a process group initialised, e.g. by ``torchrun``),
    the pass, :meth:`ablate_many` and Integrated Gradients rows are split across the
    processes, which must all make the same calls; each ends with exactly the results of
    one process, and process 0 alone writes the cache (docs/methods.md, section 8).

    Parameters
    ----------
    model : nn.Module
        Any module returning logits (N x K). It is moved to ``device`` and put in eval mode.
    data : ImageDataset, Dataset, DataLoader, ProbeSet or (images, labels)
        The probe images. A map-style ``Dataset`` of ``(image, label)`` items (e.g.
        :func:`load_image_folder`) or a ``DataLoader`` over one is read lazily; an
        ``ImageDataset`` or a tensor pair stays in memory. Images are cast to the
        model's weight dtype. The pass refuses, by index, images with NaN or infinite
        pixels or that give non-finite activations or logits.
    layers : list of str, optional
        ``model.named_modules()`` names. Default: every conv and linear layer.
    device : str or torch.device, optional
        ``"cpu"``, ``"cuda"``...; default CUDA when present, else CPU.
    batch_size : int
        Images per forward for every computation; halved on CUDA out-of-memory.
    pooling : {"mean", "max"}
        How a neuron's map is pooled over space/tokens into its profile.
    cache_dir : path, optional
        Folder for the on-disk cache of the pass (``.npy`` + JSON, no pickle); it must be
        writable (checked at once). An entry is used when its fingerprint matches: the
        data's fingerprint, the settings of the pass (layers, pooling, dtypes, precision)
        and, of the model, its class, repr, parameters and buffers, every module's plain
        attributes (numbers, strings, flags, e.g. a temperature) and the hooks registered
        on its modules. A change the fingerprint cannot see (a ``forward`` edited in
        place, a global it reads) needs ``refresh=True``.
    progress : bool
        Show progress bars for long work.
    class_names : list of str, optional
        Names of the model's K outputs, if the data does not carry them.
    precision : {"fp32", "bf16", "fp16"}
        Autocast precision of the forward (fp16 on CUDA only); statistics stay fp32.
    profiles_dtype : {"float32", "float16"}
        How profiles are stored; float16 halves the largest statistics.
    memmap_threshold : int
        With ``cache_dir``, statistics of at least this many bytes live in
        memory-mapped ``.npy`` files instead of RAM.
    refresh : bool
        Recompute the pass even when the cache has an entry for it, and replace the entry.

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
        precision: Precision = "fp32",
        profiles_dtype: Literal["float32", "float16"] = "float32",
        memmap_threshold: int = 256 << 20,
        refresh: bool = False,
    ) -> None:
        if pooling not in ("mean", "max"):
            raise ValueError(f"pooling must be 'mean' or 'max', got {pooling!r}")
        if profiles_dtype not in ("float32", "float16"):
            raise ValueError(f"profiles_dtype must be 'float32' or 'float16', got {profiles_dtype!r}")
        if isinstance(memmap_threshold, bool) or not isinstance(memmap_threshold, int) or memmap_threshold < 0:
            raise ValueError(f"memmap_threshold must be a number of bytes >= 0, got {memmap_threshold!r}")
        self.runner = ModelRunner(model, device, precision, batch_size)
        data = as_probe_set(data, class_names)
        self.pooling = pooling
        self.profiles_dtype = profiles_dtype
        self.memmap_threshold = memmap_threshold
        self.cache_dir = None if cache_dir is None else _cache.check_folder(cache_dir)
        self.refresh = bool(refresh)
        self.progress = progress

        self._layer_info, output, self._refused = self.runner.discover(data.images(range(min(2, len(data)))))
        if data.class_names is None and isinstance(output, torch.Tensor) and output.ndim == 2:
            # names the data does not carry: the model's own, else the output indices
            names = getattr(model, "class_names", None) or [str(i) for i in range(output.shape[1])]
            data = data.with_class_names(names)
        self.data = data
        self._check_output(output)
        if layers is None:
            layers = default_layers(self.model, self._layer_info)
            shared = [n for n, why in self._refused.items() if why.startswith("runs ") and is_unit(self.runner.module(n))]
            if shared:
                warnings.warn(
                    f"left out of the default layers: {', '.join(shared)}, each of which runs several times per "
                    "forward pass (a shared module) and so has no one output",
                    stacklevel=2,
                )
        elif isinstance(layers, str):
            layers = [layers]
        chosen = set(resolve(layers, list(self._layer_info), self._refused))
        #: The selected layers in the order the model runs them, whatever order they were named in.
        self.layers = [name for name in self._layer_info if name in chosen]
        if not self.layers:
            raise ValueError("no layers selected; name some with layers=[...] (see available_layers())")
        self._lock = threading.RLock()
        self._stats: dict[str, dict[str, np.ndarray]] = {}  # "pass" -> the statistics, once computed
        self._aggregators: dict[tuple[str, ...], Aggregator] = {}
        self._flows: dict[tuple[str, str, str, int], np.ndarray] = {}
        self._fields: dict[str, _receptive.ReceptiveField] = {}
        #: Ablated layers -> whether widening the batch where they run gives the logits of
        #: plain copies (checked the first time, see _run_ablations).
        self._widening: dict[tuple[str, ...], bool] = {}

    def __repr__(self) -> str:
        return f"Analysis({type(self.model).__name__}, {self.data}, {len(self.layers)} layers, {self.runner})"

    # ------------------------------------------------------------------ model
    @property
    def model(self) -> nn.Module:
        return self.runner.model

    @property
    def device(self) -> torch.device:
        return self.runner.device

    @property
    def batch_size(self) -> int:
        return self.runner.batch_size

    # ----------------------------------------------------------------- layers
    def available_layers(self) -> list[LayerInfo]:
        """Every module with a B x F, B x T x D or B x C x H x W output, with its shape."""
        return list(self._layer_info.values())

    def layer_info(self, layer: str) -> LayerInfo:
        resolve([layer], list(self._layer_info), self._refused)
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
    @property
    def labels(self) -> np.ndarray:
        """N: the label of each probe image (from the data, or learnt in the pass)."""
        known = self.data.labels
        return known if known is not None else self._pass()["labels"]

    def images(self, indices: Sequence[int] | np.ndarray) -> torch.Tensor:
        """k x C x H x W: the probe images at ``indices``, fetched by index (no pass)."""
        return self.data.images(indices)

    def profiles(self, layer: str) -> np.ndarray:
        """N x C: each neuron's pooled activation on each probe image (``profiles_dtype``;
        memory-mapped and read-only when large and cached)."""
        self._selected(layer)
        return self._pass()[f"profiles:{layer}"]

    def class_means(self, layer: str) -> np.ndarray:
        """K x C: the mean profile over the images of each class (NaN for an absent class)."""
        return class_means(self.profiles(layer), self.labels, self.data.num_classes).astype(np.float32)

    def neuron_means(self, layer: str) -> np.ndarray:
        """C: each neuron's mean activation over all probe images and positions."""
        self._selected(layer)
        return self._pass()[f"means:{layer}"]

    def top_images(self, layer: str, neuron: int, k: int = 16) -> TopImages:
        """The k probe images on which the neuron's profile is highest, best first."""
        info = self._selected(layer)
        neuron = self._check_neuron(info, neuron)
        k = positive_int("k", k, "top images wanted")
        scores = np.asarray(self.profiles(layer)[:, neuron], dtype=np.float32)
        order = np.argsort(-scores, kind="stable")[:k]
        positions = None
        if info.spatial_shape:
            flat = self._pass()[f"argmax:{layer}"][order, neuron]
            positions = np.stack(np.unravel_index(flat, info.spatial_shape), axis=1)
        return TopImages(layer, neuron, order, scores[order], positions)

    @property
    def predictions(self) -> Predictions:
        """The model's logits and predicted classes on every probe image."""
        return Predictions(self._pass()["logits"], self.labels, self.data.class_names)

    def confusions(self) -> Confusions:
        """The confusion table (true x predicted counts, the images of each cell) and the
        errors grouped by confusion; see :mod:`~innersight_widgets.core.debugging`."""
        return confusions(self)

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
        images: Sequence[int] | np.ndarray | None = None,
    ) -> list[AblationResult]:
        """Several ablations in one pass over the images: each batch is copied once per ablation.

        Gives the same results as calling :meth:`ablate` on each spec. ``should_stop`` is
        asked between batches; when it returns True the work ends with :class:`Cancelled`.
        ``on_progress(done, total)`` hears after each batch how many image copies are done.

        ``images`` (probe image indices; default all) runs only those images, so that a
        quick test costs a fraction of the whole probe set. The results then describe
        those images only: their ``labels``, ``logits_before`` and ``logits_after`` have
        one row per index, in the order given, and every accuracy is over them.
        """
        if mode not in ("zero", "mean"):
            raise ValueError(f"mode must be 'zero' or 'mean', got {mode!r}")
        checked = [self.ablation_spec(spec, mode) for spec in specs]
        chosen = self.image_indices(images)
        if not checked:
            return []
        stats = self._pass()
        labels, before = self.labels, stats["logits"]
        if chosen is not None:
            labels, before = labels[chosen], before[chosen]
        logits_after = _run_ablations(self, checked, mode, stats, should_stop, on_progress, chosen)
        return [
            AblationResult(spec, mode, self.data.class_names, labels, before, after)
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
        should_stop: Callable[[], bool] | None = None,
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
        Rand index; 0 skips it. ``should_stop`` is asked before each of those re-runs; when
        it returns True the work ends with :class:`Cancelled`.
        """
        return self.aggregator(layers).communities(method, params, seed, stability_runs, should_stop)

    def aggregator(self, layers: Sequence[str] | str | None = None) -> Aggregator:
        """The aggregator of ``layers`` (default: all selected): their neuron set with the
        correlation, dendrograms and embeddings it has computed, kept per set of layers."""
        key = tuple(self.ordered_layers(layers))
        return self._cached(
            self._aggregators, key,
            lambda: Aggregator(build_neuron_set({layer: self.profiles(layer) for layer in key}, self.device)),
        )

    def neuron_set(self, layers: Sequence[str] | str | None = None) -> NeuronSet:
        """The neurons of ``layers`` with their z-scored profiles and correlations."""
        return self.aggregator(layers).neurons

    def ordered_layers(self, layers: Sequence[str] | str | None) -> list[str]:
        """Selected layers in the model's order (all of them for None); a name that is not
        selected raises an error that says so."""
        if layers is None:
            return list(self.layers)
        layers = [layers] if isinstance(layers, str) else list(layers)
        if not layers:
            raise ValueError("give at least one layer")
        for layer in layers:
            self._selected(layer)
        # the model's order, so that "consecutive layers" means lower -> upper
        return [layer for layer in self.layers if layer in set(layers)]

    def evaluate(self, communities: Communities | Sequence[Communities]) -> CommunityReport:
        """Top images and patches, class selectivity, ablation importance against random sets,
        coherence, flow between communities, pathways into classes, and concept labels of each
        community; a list of partitions of disjoint layers (e.g. one per layer) is evaluated
        as one (docs/methods.md, section 3.6)."""
        return CommunityReport(self, communities)

    def flow(self, lower: str, upper: str, method: Literal["gradient", "weights"] = "gradient", images: int = 256) -> np.ndarray:
        """C_upper x C_lower flow edges: mean |gradient x activation| of each upper neuron's
        pooled activation with respect to each lower neuron's map, over ``images`` probe
        images (a fixed seeded sample); or ``method="weights"``: |W| of a directly
        connected upper conv/linear layer."""
        low, up = self.layer_info(lower), self.layer_info(upper)
        if method not in ("gradient", "weights"):
            raise ValueError(f"flow method must be 'gradient' or 'weights', got {method!r}")
        images = positive_int("images", images, "probe images the gradient flow is averaged over")
        def compute() -> np.ndarray:
            if method == "weights":
                return _flow.weight_flow(self.runner.module(upper), low, up)
            n = len(self.data)
            sample = np.sort(np.random.default_rng(0).permutation(n)[: min(images, n)])
            return _flow.gradient_flow(self, low, up, sample)

        return self._cached(self._flows, (lower, upper, method, int(images)), compute)

    def neuron_graph(
        self,
        layers: Sequence[str] | str | None = None,
        k: int = 10,
        min_corr: float = 0.0,
        flow: Literal["gradient", "weights"] | None = "gradient",
        flow_top: int = 5,
        communities: Communities | None = None,
    ) -> nx.DiGraph:
        """The neuron graph of docs/methods.md: similarity edges (kNN of profile correlation)
        and flow edges between consecutive layers; export with ``export_graph``."""
        from .communities import check_params

        check_params("louvain", {"k": k, "min_corr": min_corr})
        return neuron_graph(self, self.ordered_layers(layers), k, min_corr, flow, flow_top, communities)

    def receptive_box(self, layer: str, image: int, neuron: int) -> tuple[int, int, int, int]:
        """(top, left, bottom, right) input pixels seen by ``neuron`` where it peaks on ``image``."""
        info = self._selected(layer)
        neuron = self._check_neuron(info, neuron)
        field = self._cached(self._fields, layer, lambda: _receptive.measure(self, layer))
        flat = self._pass()[f"argmax:{layer}"][image, neuron]
        row, col = np.unravel_index(flat, info.spatial_shape)
        return field.box(int(row), int(col))

    # --------------------------------------------------------------- internals
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
        if isinstance(neuron, bool) or not isinstance(neuron, (int, np.integer)) or not 0 <= neuron < info.num_neurons:
            raise ValueError(
                f"neuron must be an index in 0..{info.num_neurons - 1} for layer {info.name!r}, got {neuron!r}"
            )
        return int(neuron)

    def ablation_spec(self, spec: AblationSpec, mode: str = "zero") -> dict[str, tuple[int, ...]]:
        """``spec`` ({layer: neuron indices}) checked against the model's layers, as
        {layer: sorted unique indices}; ``mode="mean"`` needs selected layers (their means)."""
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

    def image_indices(self, images: Sequence[int] | np.ndarray | None) -> np.ndarray | None:
        """``images`` checked as probe image indices: a 1-D int64 array (None stays None:
        all), or an error that gives the valid range."""
        if images is None:
            return None
        n = len(self.data)
        values = np.asarray(images)
        if values.ndim != 1 or values.size == 0 or not np.issubdtype(values.dtype, np.integer):
            raise ValueError(
                f"images must be a non-empty list of probe image indices in 0..{n - 1}, or None for all "
                f"{n} images; got {values.size} value(s) of type {values.dtype} in {values.ndim} dimension(s)"
            )
        outside = values[(values < 0) | (values >= n)]
        if outside.size:
            raise ValueError(f"image index {int(outside[0])} is out of range: the probe set has images 0..{n - 1}")
        return values.astype(np.int64)

    def _settings(self) -> dict[str, Any]:
        return {
            "layers": self.layers, "pooling": self.pooling, "profiles_dtype": self.profiles_dtype,
            "precision": self.runner.precision,
        }

    def _expected(self) -> dict[str, tuple[tuple[int, ...], Any]]:
        """Name -> (shape, dtype) of every statistic of the pass."""
        n = len(self.data)
        out: dict[str, tuple[tuple[int, ...], Any]] = {
            "logits": ((n, self.data.num_classes), np.float32), "labels": ((n,), np.int64),
        }
        for name in self.layers:
            info = self._layer_info[name]
            out[f"profiles:{name}"] = ((n, info.num_neurons), np.dtype(self.profiles_dtype))
            out[f"means:{name}"] = ((info.num_neurons,), np.float32)
            if info.spatial_shape:
                positions = int(np.prod(info.spatial_shape))
                out[f"argmax:{name}"] = ((n, info.num_neurons), np.uint16 if positions <= 1 << 16 else np.int32)
        return out

    def _pass(self) -> dict[str, np.ndarray]:
        return self._cached(self._stats, "pass", self._load_or_run)

    def _cached(self, cache: dict, key: Any, compute: Callable[[], Any]) -> Any:
        """``cache[key]``, computed once under the lock if missing: concurrent callers wait
        for the first one's result instead of computing it again."""
        found = cache.get(key)
        if found is None:
            with self._lock:
                if key not in cache:
                    cache[key] = compute()
                found = cache[key]
        return found

    def _load_or_run(self) -> dict[str, np.ndarray]:
        expected = self._expected()
        path = key = None
        keys = {}
        if self.cache_dir is not None:
            keys = {"model_fingerprint": _cache.model_fingerprint(self.model), "data_fingerprint": self.data.fingerprint(),
                    "images": len(self.data)}
            key = _cache.fingerprint(keys["model_fingerprint"], keys["data_fingerprint"], self._settings())
            path = _cache.path_for(self.cache_dir, key)
            stats = None if self.refresh else _cache.load(path, key, expected, self.memmap_threshold)
            # in a distributed job the pass runs sharded unless every process found the entry
            if _distributed.everyone(stats is not None):
                return stats
            if stats is None and not self.refresh:
                self._warn_other_data(keys)
        # one process of a distributed job writes the cache entry; the others keep the pass in RAM
        store = _cache.Store(path if _distributed.world()[0] == 0 else None, self.memmap_threshold)
        try:
            arrays = {name: store.array(name, shape, dtype) for name, (shape, dtype) in expected.items()}
            _streaming_pass(self, arrays)
        except BaseException:
            store.discard()
            raise
        # the shipped model's name (None for others): what `innersight report --analysis-cache` rebuilds
        meta = {"settings": self._settings(), "model": getattr(self.model, "demo_name", None), **keys}
        return store.commit(key, meta) if key is not None else arrays

    def _warn_other_data(self, keys: dict[str, Any]) -> None:
        """Say so when the probe data is an image folder and ``cache_dir`` holds a pass of
        this model and settings over as many other images: most often the same images
        copied without their modification times, which the folder's fingerprint includes,
        and the pass is about to run again."""
        if not isinstance(self.data.source, ImageFolder) or _distributed.world()[0] != 0:
            return
        found = _cache.other_data(self.cache_dir, keys, self._settings())
        if found:
            warnings.warn(
                f"{self.cache_dir} holds a pass of this model with these settings over {len(self.data)} other images "
                f"({found[0]}), so the pass runs again. If the images are the same, they were probably copied "
                "without their modification times, which an image folder's fingerprint includes: copy folders "
                "with `rsync -a` or `cp -p`",
                stacklevel=4,
            )

    @property
    def cached(self) -> bool:
        """Whether the pass of this analysis (its model, probe data and settings) is on disk
        in ``cache_dir``, so that opening it runs no forward pass."""
        if self.cache_dir is None:
            return False
        key = _cache.fingerprint(_cache.model_fingerprint(self.model), self.data.fingerprint(), self._settings())
        return _cache.holds(_cache.path_for(self.cache_dir, key), key)


def cached_analyses(cache_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """What each analysis cached in ``cache_dir`` recorded, newest first.

    Parameters
    ----------
    cache_dir : path
        A folder given as ``cache_dir`` to analyses.

    Returns
    -------
    list of dict
        Per finished cache entry: ``settings`` (layers, pooling, profiles_dtype,
        precision), ``model`` (the shipped model's name, None for another model),
        ``fingerprint`` and ``path``.
    """
    return _cache.entries(cache_dir)


def _streaming_pass(an: Analysis, host: dict[str, np.ndarray]) -> None:
    """Fill ``host`` (the arrays of :meth:`Analysis._expected`) in one pass over the data.

    Hooks reduce each selected layer's output on the device into device buffers for a
    block of images; a full block is copied to the host arrays at once, so the device
    holds a bounded amount and the host is synchronised once per block, not per batch.
    """
    runner, data = an.runner, an.data
    n, k, dev = len(data), data.num_classes, an.device
    infos = [an.layer_info(name) for name in an.layers]
    per_image = 4 * k + sum(4 * i.num_neurons * (1 + bool(i.spatial_shape) + (an.pooling == "max")) for i in infos)
    block = max(runner.batch_size, min(n, _BLOCK_BYTES // per_image))
    pooled = {i.name: torch.empty(block, i.num_neurons, device=dev) for i in infos}
    argmax = {i.name: torch.empty(block, i.num_neurons, dtype=torch.int32, device=dev) for i in infos if i.spatial_shape}
    # with max pooling, the per-image spatial means that neuron_means needs
    means = {i.name: torch.empty(block, i.num_neurons, device=dev) for i in infos} if an.pooling == "max" else pooled
    mean_sums = {i.name: torch.zeros(i.num_neurons, dtype=torch.float64, device=dev) for i in infos}
    logits = torch.empty(block, k, device=dev)
    # first image of the block, rows of the block being computed, layers whose hooks ran
    at: dict[str, Any] = {"block": 0, "rows": slice(0, 0), "fired": set()}

    def reducer(info: LayerInfo) -> Callable[[torch.Tensor], None]:
        def hook(out: torch.Tensor) -> None:
            at["fired"].add(info.name)
            flat = neurons_first(out, info)
            rows = at["rows"]
            if an.pooling == "max":
                values, position = flat.max(dim=2)
                means[info.name][rows] = flat.mean(dim=2)
            else:
                values = flat.mean(dim=2)
                position = flat.argmax(dim=2) if info.spatial_shape else None
            pooled[info.name][rows] = values
            if info.spatial_shape:
                argmax[info.name][rows] = position.int()

        return hook

    def flush(filled: int) -> None:
        rows = slice(at["block"], at["block"] + filled)
        host["logits"][rows] = logits[:filled].cpu().numpy()
        for info in infos:
            host[f"profiles:{info.name}"][rows] = pooled[info.name][:filled].cpu().numpy()
            mean_sums[info.name] += means[info.name][:filled].sum(0, dtype=torch.float64)
            if info.spatial_shape:
                host[f"argmax:{info.name}"][rows] = argmax[info.name][:filled].cpu().numpy()
        at["block"] += filled

    hooks = {info.name: reducer(info) for info in infos}
    rank = _distributed.world()[0]

    def run(share: slice) -> None:
        at["block"], filled = share.start, 0
        indices = None if share == slice(0, n) else np.arange(share.start, share.stop)
        bar = tqdm(total=share.stop - share.start, desc="probe pass", unit="img", leave=False,
                   disable=not an.progress or rank != 0)
        with bar:
            for rows, x, y in data.batches(runner.batch_size, indices, pin_memory=dev.type == "cuda"):
                _check_labels(y, rows, data.class_names, data.labels)
                host["labels"][rows] = y.numpy()
                if filled + len(x) > block:
                    flush(filled)
                    filled = 0

                def work(part: slice, x: torch.Tensor = x, offset: int = filled, ids: np.ndarray = rows) -> None:
                    at["rows"], at["fired"] = slice(offset + part.start, offset + part.stop), set()
                    _refuse_non_finite(x[part], ids[part], "hold NaN or infinite pixels")
                    logits[at["rows"]] = runner.forward(x[part], hooks).float()
                    missing = [name for name in hooks if name not in at["fired"]]
                    if missing:
                        raise ValueError(
                            f"layer(s) {', '.join(map(repr, missing))} did not run for images {ids[part.start]}.."
                            f"{ids[part.stop - 1]} (a branch the model takes only for some inputs?); select layers "
                            "that run for every image"
                        )
                    for info in infos:
                        _refuse_non_finite(pooled[info.name][at["rows"]], ids[part], f"give NaN or infinite activations in layer {info.name!r}")
                    _refuse_non_finite(logits[at["rows"]], ids[part], "give NaN or infinite logits")

                runner.in_batches(len(x), work)
                filled += len(x)
                bar.update(len(x))
            flush(filled)

    # each process fills its rows; then every process holds all of them (docs/methods.md §8)
    _distributed.sharded(n, runner.batch_size, run, *(a for name, a in host.items() if not name.startswith("means:")))
    for info in infos:
        host[f"means:{info.name}"][:] = (_distributed.total(mean_sums[info.name]) / n).float().cpu().numpy()


def _refuse_non_finite(values: torch.Tensor, ids: np.ndarray, what: str) -> None:
    """Raise naming the images (``ids``, one per row of ``values``) whose rows are not all
    finite: one NaN would make every statistic of its neurons NaN and the communities
    meaningless (each neuron alone), silently."""
    bad = ~torch.isfinite(values.reshape(len(values), -1)).all(1)
    if bool(bad.any()):
        found = ids[bad.cpu().numpy()].tolist()
        shown = ", ".join(map(str, found[:10])) + (f" and {len(found) - 10} more" if len(found) > 10 else "")
        raise ValueError(
            f"probe image(s) {shown} {what}; the analysis refuses them rather than let NaN spread into "
            "every statistic. Fix or drop those images (e.g. torch.utils.data.Subset), or, for activations "
            "only, run the model in fp32 (precision='fp32') if it overflows in half precision"
        )


def _check_labels(labels: torch.Tensor, rows: np.ndarray, class_names: list[str], known: np.ndarray | None) -> None:
    """Labels the items return must index the class names, and agree with the labels the
    dataset announced (its ``labels``/``targets``), which the analysis trusts."""
    bad = (labels < 0) | (labels >= len(class_names))
    if bool(bad.any()):
        first = int(bad.nonzero()[0, 0])
        raise ValueError(
            f"image {int(rows[first])} has label {int(labels[first])}, but labels must lie in "
            f"0..{len(class_names) - 1} (one per class name: {', '.join(class_names[:10])}"
            f"{' ...' if len(class_names) > 10 else ''}); pass class_names with one name per model output"
        )
    if known is not None:
        differ = np.flatnonzero(known[rows] != labels.numpy())
        if differ.size:
            i = int(rows[differ[0]])
            raise ValueError(
                f"image {i}: the dataset's labels (or targets) attribute says {int(known[i])}, but the item "
                f"returns label {int(labels[differ[0]])} (a target_transform?); make them agree, or wrap the "
                "dataset in one without that attribute so that the labels the items return are used"
            )


def _run_ablations(
    an: Analysis,
    specs: list[dict[str, tuple[int, ...]]],
    mode: str,
    stats: dict[str, np.ndarray],
    should_stop: Callable[[], bool] | None,
    on_progress: Callable[[int, int], None] | None,
    images: np.ndarray | None,
) -> np.ndarray:
    """S x N x K logits with each spec applied, over the probe images at ``images`` (N of
    them, in that order; None: all). Each batch of images is read once; a forward
    carries one copy of part of it per spec of a chunk of specs."""
    runner, dev = an.runner, an.device
    n, s_total = len(an.data) if images is None else len(images), len(specs)
    layers = sorted({layer for spec in specs for layer in spec})
    masks: dict[str, torch.Tensor] = {}
    fills: dict[str, torch.Tensor] = {}
    for layer in layers:
        info = an.layer_info(layer)
        mask = np.zeros((s_total, info.num_neurons), dtype=bool)
        for row, spec in enumerate(specs):
            mask[row, list(spec.get(layer, ()))] = True
        masks[layer] = torch.as_tensor(mask, device=dev)
        fill = stats[f"means:{layer}"] if mode == "mean" else np.zeros(info.num_neurons, np.float32)
        fills[layer] = torch.tensor(np.array(fill), device=dev)  # a copy: cached statistics may be read-only

    copies = min(s_total, runner.batch_size)
    out = np.zeros((s_total, n, an.data.num_classes), dtype=np.float32)
    done = {"copies": 0}
    # Widening (the layers below the ablated ones run once per image, not once per copy) is
    # checked against plain copies of the first images of the first piece ablated in a set of layers, and the
    # verdict kept by the analysis: an importance test makes several calls, and a widget
    # one test per click. A model that refuses the wide batch or gives other logits gets
    # plain copies from then on.
    tolerance = 1e-4 if runner.precision == "fp32" else 3e-2

    def ablate_chunk(x: torch.Tensor, first: int, chunk: slice) -> None:
        """Every image of ``x`` (rows ``first``... of the output) under the specs of ``chunk``;
        out of memory even for one image at a time splits the chunk of specs in two."""
        k = chunk.stop - chunk.start
        replacers = {
            layer: channel_replacer(an.layer_info(layer), masks[layer][chunk], fills[layer])
            for layer in layers
            if bool(masks[layer][chunk].any())
        }
        ablated = tuple(replacers)

        def work(part: slice) -> None:
            if should_stop is not None and should_stop():
                raise Cancelled("ablation stopped: a newer request replaced it")
            piece = x[part]
            if not replacers:  # these specs ablate nothing: every copy is the plain forward
                logits = runner.forward(piece).float().expand(k, len(piece), -1)
            else:
                verdict = an._widening.get(ablated)
                logits = _widened(runner, piece, k, replacers) if verdict is not False and k > 1 else None
                if logits is not None and verdict is None:
                    # checked on the piece's first images only: each copy of them is a whole forward
                    few = slice(0, min(2, len(piece)))
                    copied = _copied(runner, piece[few], k, replacers)
                    scale = float(copied.abs().max()) + 1e-12
                    same = torch.allclose(logits[:, few], copied, rtol=tolerance, atol=tolerance * 0.1 * scale)
                    an._widening[ablated] = bool(same)
                    # a piece that passes keeps its widened logits, so that every piece is computed
                    # the same way whichever came first (in any process of a job)
                    logits = logits if same else None
                elif logits is None and k > 1:
                    an._widening[ablated] = False
                if logits is None:
                    logits = _copied(runner, piece, k, replacers)
            out[chunk, first + part.start : first + part.stop] = logits.cpu().numpy()
            bar.update(k * len(piece))
            done["copies"] = min(done["copies"] + k * len(piece), s_total * n)
            if on_progress is not None:
                on_progress(done["copies"], s_total * n)

        try:
            runner.in_batches(len(x), work, size=max(1, runner.batch_size // k))
        except torch.cuda.OutOfMemoryError:
            if k == 1:
                raise
            middle = chunk.start + k // 2
            ablate_chunk(x, first, slice(chunk.start, middle))
            ablate_chunk(x, first, slice(middle, chunk.stop))

    rank = _distributed.world()[0]

    def run(share: slice) -> None:
        indices = images[share] if images is not None else None if share == slice(0, n) else np.arange(share.start, share.stop)
        first = share.start
        for _, x, _ in an.data.batches(runner.batch_size, indices=indices, pin_memory=dev.type == "cuda"):
            for chunk in chunks(s_total, copies):
                ablate_chunk(x, first, chunk)
            first += len(x)

    with tqdm(total=s_total * n, desc="ablation", unit="img", disable=not an.progress or rank != 0, leave=False) as bar:
        _distributed.sharded(n, runner.batch_size, run, out)
    return out


def _copied(runner: ModelRunner, piece: torch.Tensor, k: int, replacers: dict) -> torch.Tensor:
    """k x B x K logits: the batch repeated once per ablation, each copy with its own mask."""
    batch = piece.unsqueeze(0).expand(k, *piece.shape).reshape(k * len(piece), *piece.shape[1:])
    return runner.forward(batch, replacers).float().reshape(k, len(piece), -1)


def _widened(runner: ModelRunner, piece: torch.Tensor, k: int, replacers: dict) -> torch.Tensor | None:
    """The same as :func:`_copied`, with the batch widened to k copies only where the first
    ablated layer runs; None where the rest of the network does not carry the wide batch
    through (a tensor from below the ablated layer is used above it, as a shortcut is)."""
    rows = len(piece)

    def widening(replace: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[torch.Tensor], torch.Tensor]:
        def hook(output: torch.Tensor) -> torch.Tensor:
            if output.shape[0] == rows:  # the first ablated layer on this path: k copies from here on
                output = output.repeat(k, *([1] * (output.ndim - 1)))
            return replace(output)

        return hook

    try:
        logits = runner.forward(piece, {layer: widening(fn) for layer, fn in replacers.items()}, copies=k)
    except (torch.cuda.OutOfMemoryError, Cancelled):
        raise  # for in_batches to halve the batch, or the caller's stop: not a reason to stop widening
    except Exception:  # noqa: BLE001 - the model refused the wide batch: plain copies are exact
        return None
    if logits.shape[0] != k * rows:
        return None
    return logits.float().reshape(k, rows, -1)
