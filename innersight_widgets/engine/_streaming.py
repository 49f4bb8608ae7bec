"""The streaming pass: every selected layer's pooled profile, the position of its maximum
and the model's logits, over all probe images in one pass, sharded across the processes of
a ``torch.distributed`` job."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from .._progress import bar as progress_bar
from ..data import UNREADABLE, ProbeSet
from . import _distributed
from ._cache import Store
from ._layers import LayerInfo
from .runner import ModelRunner, neurons_first

# Device memory for the statistics of a block of images, before they are copied to the host.
_BLOCK_BYTES = 256 << 20
# A resumable pass records its progress at least this many times (once per block).
_CHECKPOINTS = 20


def streaming_pass(
    runner: ModelRunner, data: ProbeSet, infos: list[LayerInfo], pooling: str, progress: bool,
    host: dict[str, np.ndarray], store: Store | None = None,
) -> None:
    """Fill ``host`` (one array per statistic the probe keeps) in one pass over the data.

    Parameters
    ----------
    runner : ModelRunner
        Runs every forward.
    data : ProbeSet
        The N probe images, read batch by batch.
    infos : list of LayerInfo
        The selected layers.
    pooling : {"mean", "max"}
        How a neuron's map becomes one number per image.
    progress : bool
        Show a bar (process 0 of a distributed job only).
    host : dict of str to ndarray
        ``logits`` (N x K), ``labels`` (N), and per layer ``profiles:<layer>`` (N x C),
        ``means:<layer>`` (C) and, for spatial layers, ``argmax:<layer>`` (N x C); filled in place.
        An item that cannot be read (:class:`~innersight_widgets.data.UnreadableImage`) gets
        the label ``UNREADABLE`` and is left out of the means; its other rows are meaningless.
    store : Store, optional
        Where ``host`` lives. A resumable store (a single process with a cache) gets a
        checkpoint after every block, and the pass starts after the images it already holds.

    Hooks reduce each selected layer's output on the device into device buffers for a
    block of images; a full block is copied to the host arrays at once, so the device
    holds a bounded amount and the host is synchronised once per block, not per batch.
    """
    n, k, dev = len(data), data.num_classes, runner.device
    per_image = 4 * k + sum(4 * i.num_neurons * (1 + bool(i.spatial_shape) + (pooling == "max")) for i in infos)
    block = max(runner.batch_size, min(n, _BLOCK_BYTES // per_image))
    resumable = store is not None and store.resumable and _distributed.world()[1] == 1
    if resumable:  # a block in whole batches, so that a resumed pass reads the same batches
        block = min(block, runner.batch_size * max(1, -(-n // (_CHECKPOINTS * runner.batch_size))))
    pooled = {i.name: torch.empty(block, i.num_neurons, device=dev) for i in infos}
    argmax = {i.name: torch.empty(block, i.num_neurons, dtype=torch.int32, device=dev) for i in infos if i.spatial_shape}
    # with max pooling, the per-image spatial means that neuron_means needs
    means = {i.name: torch.empty(block, i.num_neurons, device=dev) for i in infos} if pooling == "max" else pooled
    mean_sums = {i.name: torch.zeros(i.num_neurons, dtype=torch.float64, device=dev) for i in infos}
    readable = torch.empty(block, dtype=torch.bool, device=dev)
    logits = torch.empty(block, k, device=dev)
    # first image of the block, rows of the block being computed, layers whose hooks ran
    at: dict[str, Any] = {"block": 0, "rows": slice(0, 0), "fired": set()}

    def reducer(info: LayerInfo) -> Callable[[torch.Tensor], None]:
        def hook(out: torch.Tensor) -> None:
            at["fired"].add(info.name)
            if info.kind == "tokens":  # B x T x C: reduce over the tokens where they are, no transposed copy
                flat, axis = out[:, info.pooled_tokens].float(), 1
            else:
                flat, axis = neurons_first(out, info), 2
            rows = at["rows"]
            if pooling == "max":
                values, position = flat.max(dim=axis)
                means[info.name][rows] = flat.mean(dim=axis)
            else:
                values = flat.mean(dim=axis)
                # max's indices: the same first maximum as argmax, in under half its time on the CPU
                position = flat.max(dim=axis).indices if info.spatial_shape else None
            pooled[info.name][rows] = values
            if info.spatial_shape:
                argmax[info.name][rows] = position.int()

        return hook

    def flush(filled: int) -> None:
        rows = slice(at["block"], at["block"] + filled)
        host["logits"][rows] = logits[:filled].cpu().numpy()
        read = readable[:filled]
        for info in infos:
            host[f"profiles:{info.name}"][rows] = pooled[info.name][:filled].cpu().numpy()
            mean_sums[info.name] += means[info.name][:filled][read].sum(0, dtype=torch.float64)
            if info.spatial_shape:
                host[f"argmax:{info.name}"][rows] = argmax[info.name][:filled].cpu().numpy()
        at["block"] += filled
        if resumable:
            store.checkpoint(at["block"], {name: sums.cpu().numpy() for name, sums in mean_sums.items()})

    hooks = {info.name: reducer(info) for info in infos}
    rank = _distributed.world()[0]

    def run(share: slice) -> None:
        first = share.start
        if resumable:
            first, sums = store.resume_point()
            for name, saved in sums.items():
                mean_sums[name] = torch.as_tensor(saved, dtype=torch.float64, device=dev)
        at["block"], filled = first, 0
        indices = None if (first, share.stop) == (0, n) else np.arange(first, share.stop)
        bar = progress_bar(total=share.stop - share.start, initial=first - share.start, desc="probe pass", unit="img",
                           disable=not progress or rank != 0)
        with bar:
            for rows, x, y in data.batches(runner.batch_size, indices, pin_memory=dev.type == "cuda", skip_unreadable=True):
                _check_labels(y, rows, data.class_names, data.labels)
                host["labels"][rows] = y.numpy()
                if filled + len(x) > block:
                    flush(filled)
                    filled = 0

                readable[filled : filled + len(x)] = (y != UNREADABLE).to(dev)

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
    read = int((host["labels"] != UNREADABLE).sum())
    if read == 0:
        raise ValueError(f"none of the {n} probe images could be read; check the files (e.g. open one with PIL)")
    for info in infos:
        host[f"means:{info.name}"][:] = (_distributed.total(mean_sums[info.name]) / read).float().cpu().numpy()


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
    bad = ((labels < 0) & (labels != UNREADABLE)) | (labels >= len(class_names))
    if bool(bad.any()):
        first = int(bad.nonzero()[0, 0])
        raise ValueError(
            f"image {int(rows[first])} has label {int(labels[first])}, but labels must lie in "
            f"0..{len(class_names) - 1} (one per class name: {', '.join(class_names[:10])}"
            f"{' ...' if len(class_names) > 10 else ''}); pass class_names with one name per model output"
        )
    if known is not None:
        differ = np.flatnonzero((known[rows] != labels.numpy()) & (labels.numpy() != UNREADABLE))
        if differ.size:
            i = int(rows[differ[0]])
            raise ValueError(
                f"image {i}: the dataset's labels (or targets) attribute says {int(known[i])}, but the item "
                f"returns label {int(labels[differ[0]])} (a target_transform?); make them agree, or wrap the "
                "dataset in one without that attribute so that the labels the items return are used"
            )
