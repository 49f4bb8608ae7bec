"""``Probe``: one streaming pass of a model over probe images, and the engine services a
method builds on (layers, profiles, top images, ablation, flow edges, receptive fields).

Every forward goes through the probe's :class:`~.runner.ModelRunner`; the probe images are
read batch by batch from a :class:`~innersight_widgets.data.ProbeSet`, so memory holds the
model, a few batches and the statistics (N x C per layer), never the images. Lazily
computed values are kept in :meth:`Probe.memo` under a lock: one probe may be used by a
widget's worker and a notebook cell at once.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import nn

from .._validation import Constraint, Interval, Options, check, validate_params
from ..data import UNREADABLE, ImageFolder, ProbeSet, UnreadableImage, as_probe_set
from . import _cache, _distributed, _flow, _receptive
from ._ablation import Ablator
from ._layers import LayerInfo, Tokens, default_layers, is_unit, patch_grid, resolve, with_token_grid
from ._streaming import streaming_pass
from .records import AblationResult, Predictions, TopImages, class_means
from .runner import ModelRunner, Precision

AblationSpec = Mapping[str, Iterable[int]]

#: What replaces an ablated neuron's output: :meth:`Probe.ablate_many` takes these, and
#: MisclassificationDebugger's "switch off to" buttons offer them.
ABLATION_MODE = Options("zero", "mean", meaning="what replaces the ablated neurons' outputs: zero, or their probe-set mean")
#: How :meth:`Probe.flow` measures flow edges.
FLOW_METHOD = Options("gradient", "weights", meaning="mean |gradient x activation|, or |W| of a directly connected layer")

#: Accuracy a one-to-one relabelling of the classes must add before the labels are said to look permuted.
PERMUTED_GAIN = 0.25

__all__ = ["ABLATION_MODE", "FLOW_METHOD", "Probe", "cached_analyses"]


class Probe:
    """Pooled activations of chosen layers of a model over a set of probe images: the
    engine's one object, and everything a method may rely on.

    The methods (InnerSightNet, NeurFlow, NeuCEPT, debugging) use only these public
    members: ``runner`` (every forward), ``data``, ``layers``, ``pooling``, ``progress``,
    ``model``, ``device``, ``batch_size``; the layers (:meth:`available_layers`,
    :meth:`layer_info`, :meth:`selected`, :meth:`ordered_layers`, :meth:`class_index`);
    the statistics (:attr:`labels`, :meth:`images`, :meth:`profiles`, :meth:`class_means`,
    :meth:`neuron_means`, :meth:`top_images`, :attr:`predictions`); checks of arguments
    (:meth:`check_neuron`, :meth:`ablation_spec`, :meth:`image_indices`); the computations
    (:meth:`ablate`, :meth:`ablate_many`, :meth:`flow`, :meth:`receptive_box`); and
    :meth:`memo`, where a method keeps what it derived from this probe.
    ``innersight_widgets.Analysis`` is a probe with the methods' entry points on top.

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
    tokens : {"patches", "cls", "all"}
        For a token layer (B x T x D) of a patch-based model (a vision transformer), which
        tokens a neuron's profile pools: its patch tokens (default; their grid lays them over
        the image, so maxima, crops and receptive boxes are image regions), the first (CLS)
        token, or all of them.
    token_grid : (int, int), optional
        The patch grid (h, w) of the token layers. Default: the map of the patch embedding,
        the first conv layer reading the image in non-overlapping patches.
    prefix_tokens : int, optional
        Tokens before the patches (CLS, distillation, register tokens). Default: what each
        token layer holds beyond h x w, up to 16.
    channels_last : list of str
        Layers whose 4-D output is N x H x W x C (channels last). Linear and layer-norm
        layers are read so without being named; name any other (an activation inside a
        ConvNeXt or Swin block) so that C is never read as H.
    output : callable, optional
        Takes what the model returns and gives its N x K logits, for a model whose output
        the analysis cannot read by itself. Default: a tensor as it is, a Hugging Face
        ``ModelOutput`` or a dict by its ``logits``, a tuple by its one N x K tensor.

    Example
    -------
    >>> from innersight_widgets import Analysis, load_pretrained, load_digits
    >>> an = Analysis(load_pretrained("digits-cnn"), load_digits(split="test"), progress=False)
    >>> an.profiles("conv2").shape
    (450, 32)
    """

    #: The constructor's declared constraints (batch_size and precision: :class:`ModelRunner`'s).
    constraints: ClassVar[dict[str, Constraint]] = {
        "pooling": Options("mean", "max"),
        "profiles_dtype": Options("float32", "float16"),
        "memmap_threshold": Interval(int, 0, meaning="bytes from which a cached statistic is memory-mapped"),
        "tokens": Options("patches", "cls", "all", meaning="which tokens of a patch layer a profile pools"),
        "prefix_tokens": Interval(int, 0, none=True, meaning="tokens before the patches (CLS, registers); None: found"),
    }

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
        output: Callable[[Any], torch.Tensor] | None = None,
        tokens: Tokens = "patches",
        token_grid: tuple[int, int] | None = None,
        prefix_tokens: int | None = None,
        channels_last: Sequence[str] = (),
    ) -> None:
        pooling = check("pooling", pooling, self.constraints["pooling"])
        profiles_dtype = check("profiles_dtype", profiles_dtype, self.constraints["profiles_dtype"])
        memmap_threshold = check("memmap_threshold", memmap_threshold, self.constraints["memmap_threshold"])
        tokens = check("tokens", tokens, self.constraints["tokens"])
        prefix_tokens = check("prefix_tokens", prefix_tokens, self.constraints["prefix_tokens"])
        token_grid = _check_grid(token_grid)
        self.runner = ModelRunner(model, device, precision, batch_size, output)
        data = _in_model_order(as_probe_set(data, class_names), getattr(model, "class_names", None))
        self.pooling = pooling
        #: Which tokens of a patch layer a profile pools (see the ``tokens`` parameter).
        self.tokens = tokens
        self.profiles_dtype = profiles_dtype
        self.memmap_threshold = memmap_threshold
        self.cache_dir = None if cache_dir is None else _cache.check_folder(cache_dir)
        self.refresh = bool(refresh)
        self.progress = progress

        example = data.example(2)
        self._layer_info, returned, self._refused = self.runner.discover(example)
        self._layer_info = _channels_last(self._layer_info, channels_last, self._refused)
        grid = token_grid if token_grid is not None else patch_grid(model, self._layer_info, example.shape[1])
        self._layer_info = with_token_grid(self._layer_info, grid, prefix_tokens, tokens)
        if token_grid is not None and not any(i.grid for i in self._layer_info.values()):
            counts = sorted({i.shape[0] for i in self._layer_info.values() if i.kind == "tokens"})
            raise ValueError(
                f"token_grid={token_grid} fits no token layer: a patch layer holds {token_grid[0] * token_grid[1]} "
                f"patch tokens after its prefix_tokens, and the model's token layers hold {counts or 'none'}"
            )
        logits = self.runner.logits(returned, len(example))
        if data.class_names is None and isinstance(logits, torch.Tensor) and logits.ndim == 2:
            # names the data does not carry: the model's own (a Hugging Face config's id2label
            # included), else the output indices
            names = getattr(model, "class_names", None) or _config_labels(model, logits.shape[1])
            data = data.with_class_names(names or [str(i) for i in range(logits.shape[1])])
        self.data = data
        # the data as given: what the cache is keyed on, and what unreadable indexes
        self._given = data
        #: Indices (into the data as given) of the items the pass could not read and left out
        #: (:class:`~innersight_widgets.data.UnreadableImage`); probe image i is the i-th of
        #: the others. Empty until the pass has run.
        self.unreadable = np.zeros(0, dtype=np.int64)
        self._check_output(logits)
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
        self._memo: dict[str, dict[Hashable, Any]] = {}  # store name -> key -> value, see memo()
        self._ablator = Ablator(self.runner, self.data, self.layer_info, self.progress)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({type(self.model).__name__}, {self.data}, {len(self.layers)} layers, {self.runner})"

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

    def selected(self, layer: str) -> LayerInfo:
        """The :class:`LayerInfo` of a layer selected for this probe, or an error that says how
        to select it."""
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
        if not Interval(int, 0, len(names) - 1).accepts(target):
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
        self.selected(layer)
        return self._pass()[f"profiles:{layer}"]

    def class_means(self, layer: str) -> np.ndarray:
        """K x C: the mean profile over the images of each class (NaN for an absent class)."""
        return class_means(self.profiles(layer), self.labels, self.data.num_classes).astype(np.float32)

    def neuron_means(self, layer: str) -> np.ndarray:
        """C: each neuron's mean activation over all probe images and positions."""
        self.selected(layer)
        return self._pass()[f"means:{layer}"]

    @validate_params({"k": Interval(int, 1, meaning="top images wanted")})
    def top_images(self, layer: str, neuron: int, k: int = 16) -> TopImages:
        """The k probe images on which the neuron's profile is highest, best first."""
        info = self.selected(layer)
        neuron = self.check_neuron(info, neuron)
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

    # ---------------------------------------------------------------- ablation
    @validate_params({"mode": ABLATION_MODE})
    def ablate(self, spec: AblationSpec, mode: Literal["zero", "mean"] = "zero") -> AblationResult:
        """Replace the given neurons' outputs (zero, or their probe-set mean) and re-evaluate.

        ``spec`` maps layer names to neuron indices, e.g. ``{"conv2": [0, 5, 7]}``.
        """
        return self.ablate_many([spec], mode)[0]

    @validate_params({"mode": ABLATION_MODE})
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
        checked = [self.ablation_spec(spec, mode) for spec in specs]
        chosen = self.image_indices(images)
        if not checked:
            return []
        stats = self._pass()
        labels, before = self.labels, stats["logits"]
        if chosen is not None:
            labels, before = labels[chosen], before[chosen]
        logits_after = self._ablator.run(checked, mode, self.neuron_means, should_stop, on_progress, chosen)
        return [
            AblationResult(spec, mode, self.data.class_names, labels, before, after)
            for spec, after in zip(checked, logits_after)
        ]

    # ----------------------------------------------------------------- layers (2)
    def ordered_layers(self, layers: Sequence[str] | str | None) -> list[str]:
        """Selected layers in the model's order (all of them for None); a name that is not
        selected raises an error that says so."""
        if layers is None:
            return list(self.layers)
        layers = [layers] if isinstance(layers, str) else list(layers)
        if not layers:
            raise ValueError("give at least one layer")
        for layer in layers:
            self.selected(layer)
        # the model's order, so that "consecutive layers" means lower -> upper
        return [layer for layer in self.layers if layer in set(layers)]

    @validate_params({"images": Interval(int, 1, meaning="probe images the gradient flow is averaged over")})
    def flow(self, lower: str, upper: str, method: Literal["gradient", "weights"] = "gradient", images: int = 256) -> np.ndarray:
        """C_upper x C_lower flow edges: mean |gradient x activation| of each upper neuron's
        pooled activation with respect to each lower neuron's map, over ``images`` probe
        images (a fixed seeded sample); or ``method="weights"``: |W| of a directly
        connected upper conv/linear layer."""
        low, up = self.layer_info(lower), self.layer_info(upper)
        method = check("flow method", method, FLOW_METHOD)
        def compute() -> np.ndarray:
            if method == "weights":
                return _flow.weight_flow(self.runner.module(upper), low, up)
            n = len(self.data)
            sample = np.sort(np.random.default_rng(0).permutation(n)[: min(images, n)])
            return _flow.gradient_flow(self.runner, self.data, self.pooling, low, up, sample)

        return self.memo("flows", (lower, upper, method, int(images)), compute)

    def receptive_box(self, layer: str, image: int, neuron: int) -> tuple[int, int, int, int]:
        """(top, left, bottom, right) input pixels seen by ``neuron`` where it peaks on ``image``."""
        info = self.selected(layer)
        neuron = self.check_neuron(info, neuron)
        field = self.memo("receptive fields", layer, lambda: _receptive.field_of(self.runner, self.data, info))
        flat = self._pass()[f"argmax:{layer}"][image, neuron]
        row, col = np.unravel_index(flat, info.spatial_shape)
        return field.box(int(row), int(col))

    # --------------------------------------------------------------- internals
    def _check_output(self, output: object) -> None:
        if not isinstance(output, torch.Tensor) or output.ndim != 2:
            what = type(output).__name__ if not isinstance(output, torch.Tensor) else f"shape {tuple(output.shape)}"
            raise TypeError(
                f"the model must return logits of shape N x K, but its logits are {what}; pass "
                "output=lambda out: ... to say where they are, or wrap it in a module whose forward returns the "
                "logits tensor"
            )
        if output.shape[1] != self.data.num_classes:
            raise ValueError(
                f"the model has {output.shape[1]} outputs but the data names "
                f"{self.data.num_classes} classes; pass class_names with one name per output"
            )

    @staticmethod
    def check_neuron(info: LayerInfo, neuron: Any) -> int:
        """``neuron`` as an index of a neuron of ``info``'s layer, or an error giving the range."""
        if not Interval(int, 0, info.num_neurons - 1).accepts(neuron):
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
            info = self.selected(layer) if mode == "mean" else self.layer_info(layer)
            values = np.asarray(neurons.cpu() if isinstance(neurons, torch.Tensor) else list(neurons))
            if values.size and not np.issubdtype(values.dtype, np.integer):
                raise TypeError(f"neurons of layer {layer!r} must be integer indices, got {values.dtype}")
            indices = sorted({self.check_neuron(info, n) for n in values.reshape(-1).tolist()})
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
        settings = {
            "layers": self.layers, "pooling": self.pooling, "profiles_dtype": self.profiles_dtype,
            "precision": self.runner.precision,
        }
        if self.runner.output is not None:  # only then, so that entries written without it still open
            settings["output"] = _code_key(self.runner.output)
        last = [n for n in self.layers if self._layer_info[n].channel_axis == 3]
        if last:  # likewise: only when a selected layer is read channels last
            settings["channels_last"] = last
        gridded = {n: [*i.grid, i.prefix] for n in self.layers if (i := self._layer_info[n]).grid is not None}
        if gridded:  # likewise: only for patch layers
            settings["tokens"] = [self.tokens, gridded]
        return settings

    def _expected(self) -> dict[str, tuple[tuple[int, ...], Any]]:
        """Name -> (shape, dtype) of every statistic of the pass."""
        n = len(self._given)
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
        def compute() -> dict[str, np.ndarray]:
            arrays = self._leave_out_unreadable(self._load_or_run())
            if not getattr(self.model, "class_names", None):
                _warn_if_permuted(arrays["labels"], arrays["logits"], self.data.class_names)
            return arrays

        return self.memo("pass", None, compute)

    def _leave_out_unreadable(self, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The pass's arrays without the rows of unreadable items (label ``UNREADABLE``), the
        probe's data without those items, and one warning that names them all."""
        labels = arrays["labels"]
        bad = np.flatnonzero(labels == UNREADABLE)
        if not bad.size:
            return arrays
        keep = np.flatnonzero(labels != UNREADABLE)
        self.unreadable = bad
        self.data = self._given.subset(keep)
        self._ablator = Ablator(self.runner, self.data, self.layer_info, self.progress)
        reasons = []
        for i in bad[:10].tolist():
            try:
                self._given.source[i]
                reasons.append(f"item {i}: read now, but not during the pass")
            except UnreadableImage as error:
                reasons.append(f"item {i}, {error.path}: {error.__cause__}" if error.path else f"item {i}: {error}")
        more = f"\n  and {bad.size - 10} more" if bad.size > 10 else ""
        warnings.warn(
            f"{bad.size} of the {labels.size} probe images could not be read and are left out; the analysis "
            f"covers the other {keep.size}, and probe image i is now the i-th readable item "
            f"(the left-out indices are in `.unreadable`):\n  " + "\n  ".join(reasons) + more,
            stacklevel=4,
        )
        return {
            name: array if name.startswith("means:") else np.ascontiguousarray(array[keep])
            for name, array in arrays.items()
        }

    def memo(self, store: str, key: Hashable, compute: Callable[[], Any]) -> Any:
        """The value kept under ``key`` in this probe's ``store``, computed once under the
        probe's lock if missing: concurrent callers wait for the first one's result instead
        of computing it again. Methods keep here what they derive from the probe (e.g.
        InnerSightNet's aggregators, one per set of layers).

        Parameters
        ----------
        store : str
            A name for one kind of value (``"flows"``, ``"aggregators"``...).
        key : hashable
            Which value of that kind.
        compute : callable
            ``compute()`` gives the value when it is missing.

        Returns
        -------
        object
            The kept value.
        """
        values = self._memo.setdefault(store, {})
        found = values.get(key)
        if found is None:
            with self._lock:
                if key not in values:
                    values[key] = compute()
                found = values[key]
        return found

    def _load_or_run(self) -> dict[str, np.ndarray]:
        expected = self._expected()
        path = key = None
        keys = {}
        if self.cache_dir is not None:
            keys = {"model_fingerprint": _cache.model_fingerprint(self.model), "data_fingerprint": self._given.fingerprint(),
                    "images": len(self._given)}
            key = _cache.fingerprint(keys["model_fingerprint"], keys["data_fingerprint"], self._settings())
            path = _cache.path_for(self.cache_dir, key)
            stats = None if self.refresh else _cache.load(path, key, expected, self.memmap_threshold)
            # in a distributed job the pass runs sharded unless every process found the entry
            if _distributed.everyone(stats is not None):
                return stats
            if stats is None and not self.refresh:
                self._warn_other_data(keys)
        # one process of a distributed job writes the cache entry; the others keep the pass in RAM
        store = _cache.Store(path if _distributed.world()[0] == 0 else None, self.memmap_threshold, key)
        try:
            arrays = {name: store.array(name, shape, dtype) for name, (shape, dtype) in expected.items()}
            streaming_pass(self.runner, self._given, [self.layer_info(n) for n in self.layers], self.pooling,
                           self.progress, arrays, store)
        except KeyboardInterrupt:
            store.interrupted()  # a cached pass keeps its complete images for the next run
            raise
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
                f"{self.cache_dir} holds a pass of this model with these settings over {len(self._given)} other images "
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
        key = _cache.fingerprint(_cache.model_fingerprint(self.model), self._given.fingerprint(), self._settings())
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


def _config_labels(model: nn.Module, classes: int) -> list[str] | None:
    """The class names a Hugging Face model carries in ``config.id2label``, when they are
    real names for all ``classes`` outputs (not the generated ``LABEL_0``...)."""
    id2label = getattr(getattr(model, "config", None), "id2label", None)
    if not isinstance(id2label, dict) or len(id2label) != classes:
        return None
    names = [str(id2label.get(i, id2label.get(str(i), ""))) for i in range(classes)]
    return None if any(not n or n == f"LABEL_{i}" for i, n in enumerate(names)) else names


def _code_key(function: Callable[..., Any]) -> str:
    """What the cache fingerprint sees of an ``output`` callable: its name and, for a Python
    function, its bytecode, constants and names (another lambda gets another entry)."""
    code = getattr(function, "__code__", None)
    seen = (code.co_code.hex(), repr(code.co_consts), code.co_names) if code is not None else ()
    return f"{getattr(function, '__qualname__', type(function).__name__)}:{seen}"


def _check_grid(grid: object) -> tuple[int, int] | None:
    """``token_grid`` as (h, w) of positive integers, or None."""
    if grid is None:
        return None
    if (not isinstance(grid, (tuple, list)) or len(grid) != 2
            or not all(Interval(int, 1).accepts(v) for v in grid)):
        raise ValueError(f"token_grid must be (rows, columns) of patches, two positive integers, got {grid!r}")
    return int(grid[0]), int(grid[1])


def _channels_last(
    layers: dict[str, LayerInfo], names: Sequence[str], refused: dict[str, str]
) -> dict[str, LayerInfo]:
    """``layers`` with the named ones read channels last, each checked to have a 4-D output."""
    if isinstance(names, str):
        names = [names]
    out = dict(layers)
    for name in resolve(list(names), list(layers), refused):
        info = layers[name]
        if len(info.shape) != 3:
            raise ValueError(
                f"channels_last names {name!r}, whose output is N x {' x '.join(map(str, info.shape))}; only a 4-D "
                "output (N x H x W x C) can be channels last"
            )
        out[name] = replace(info, channel_axis=3)
    return out


def _warn_if_permuted(labels: np.ndarray, logits: np.ndarray, names: Sequence[str]) -> None:
    """Warn when the labels look like the model's outputs in another order: the accuracy
    after the best one-to-one relabelling of the classes (an assignment on the confusion
    counts) is at least ``PERMUTED_GAIN`` above the plain accuracy. Said only with five
    or more images per labelled class, below which a relabelling fits chance too well."""
    k = logits.shape[1]
    counts = np.zeros((k, k))
    np.add.at(counts, (labels, logits.argmax(1)), 1)
    present = np.flatnonzero(counts.sum(1))
    if labels.size < 5 * present.size:
        return
    rows, cols = linear_sum_assignment(counts[present], maximize=True)
    plain, best = np.trace(counts) / labels.size, counts[present[rows], cols].sum() / labels.size
    if best - plain < PERMUTED_GAIN:
        return
    moves = sorted(
        ((counts[present[r], c], present[r], c) for r, c in zip(rows, cols) if present[r] != c and counts[present[r], c]),
        reverse=True,
    )
    shown = "; ".join(f"{names[r]!r} (label {r}) as output {c}" for _, r, c in moves[:5])
    warnings.warn(
        f"the labels look permuted: the model's accuracy is {plain:.3f} with the data's class order but "
        f"{best:.3f} with the classes relabelled ({shown}{' ...' if len(moves) > 5 else ''}). The model has no "
        "class_names to check the order against: pass classes=[...] to load_image_folder (every class name in "
        "the order of the model's outputs), or class_names=[...] to the analysis",
        stacklevel=5,
    )


def _in_model_order(data: ProbeSet, model_names: Sequence[str] | None) -> ProbeSet:
    """An image folder whose classes are the model's ``class_names`` in another order (the
    sorted folder names), read in the model's order, with a warning that says so."""
    folder = data.source
    if (
        not model_names or not isinstance(folder, ImageFolder) or folder.classes_given
        or data.class_names == list(model_names) or sorted(data.class_names) != sorted(model_names)
    ):
        return data
    warnings.warn(
        f"the image folder's classes ({', '.join(data.class_names)}, sorted) are the model's class_names in "
        f"another order; they are read in the model's order ({', '.join(model_names)}), so that label i is the "
        "model's output i. Pass classes=[...] to load_image_folder to choose the order yourself",
        stacklevel=4,
    )
    return ProbeSet(folder.in_class_order(list(model_names)), num_workers=data.num_workers)
