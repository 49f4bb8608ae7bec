"""Ablation in batches: each batch of probe images is read once and copied once per
ablation, with the copies widened inside the model where that gives the same logits."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import torch

from .._progress import bar as progress_bar
from ..data import ProbeSet
from . import _distributed
from ._layers import LayerInfo
from .runner import Cancelled, ModelRunner, channel_replacer, chunks


class Ablator:
    """Runs sets of ablations over the probe images, and remembers, per set of ablated
    layers, whether widening the batch where they run gives the logits of plain copies.

    Parameters
    ----------
    runner : ModelRunner
        Runs every forward.
    data : ProbeSet
        The probe images.
    layer_info : callable
        ``layer_info(name)``: the checked :class:`LayerInfo` of a layer of the model.
    progress : bool
        Show a bar while ablating.
    """

    def __init__(self, runner: ModelRunner, data: ProbeSet, layer_info: Callable[[str], LayerInfo], progress: bool) -> None:
        self.runner, self.data, self.layer_info, self.progress = runner, data, layer_info, progress
        #: Ablated layers -> whether widening the batch where they run gives the logits of
        #: plain copies (checked the first time they are ablated).
        self.widening: dict[tuple[str, ...], bool] = {}

    def run(
        self,
        specs: list[dict[str, tuple[int, ...]]],
        mode: str,
        neuron_means: Callable[[str], np.ndarray],
        should_stop: Callable[[], bool] | None,
        on_progress: Callable[[int, int], None] | None,
        images: np.ndarray | None,
    ) -> np.ndarray:
        """S x N x K logits with each spec applied (``mode`` "zero", or "mean": each
        neuron replaced by ``neuron_means(layer)``), over the probe images at ``images``
        (N of them, in that order; None: all). Each batch of images is read once; a forward
        carries one copy of part of it per spec of a chunk of specs."""
        runner, dev = self.runner, self.runner.device
        n, s_total = len(self.data) if images is None else len(images), len(specs)
        layers = sorted({layer for spec in specs for layer in spec})
        masks: dict[str, torch.Tensor] = {}
        fills: dict[str, torch.Tensor] = {}
        for layer in layers:
            info = self.layer_info(layer)
            mask = np.zeros((s_total, info.num_neurons), dtype=bool)
            for row, spec in enumerate(specs):
                mask[row, list(spec.get(layer, ()))] = True
            masks[layer] = torch.as_tensor(mask, device=dev)
            fill = neuron_means(layer) if mode == "mean" else np.zeros(info.num_neurons, np.float32)
            fills[layer] = torch.tensor(np.array(fill), device=dev)  # a copy: cached statistics may be read-only

        copies = min(s_total, runner.batch_size)
        out = np.zeros((s_total, n, self.data.num_classes), dtype=np.float32)
        done = {"copies": 0}
        # Widening (the layers below the ablated ones run once per image, not once per copy) is
        # checked against plain copies of the first images of the first piece ablated in a set of layers, and the
        # verdict kept by the ablator: an importance test makes several calls, and a widget
        # one test per click. A model that refuses the wide batch or gives other logits gets
        # plain copies from then on.
        tolerance = 1e-4 if runner.precision == "fp32" else 3e-2

        def ablate_chunk(x: torch.Tensor, first: int, chunk: slice) -> None:
            """Every image of ``x`` (rows ``first``... of the output) under the specs of ``chunk``;
            out of memory even for one image at a time splits the chunk of specs in two."""
            k = chunk.stop - chunk.start
            replacers = {
                layer: channel_replacer(self.layer_info(layer), masks[layer][chunk], fills[layer])
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
                    verdict = self.widening.get(ablated)
                    logits = None
                    if verdict is not False and k > 1:
                        try:
                            logits = _widened(runner, piece, k, replacers)
                        except _NotWide as refusal:
                            self._copies_from_now(ablated, k, str(refusal))
                    if logits is not None and verdict is None:
                        # checked on the piece's first images only: each copy of them is a whole forward
                        few = slice(0, min(2, len(piece)))
                        copied = _copied(runner, piece[few], k, replacers)
                        scale = float(copied.abs().max()) + 1e-12
                        same = torch.allclose(logits[:, few], copied, rtol=tolerance, atol=tolerance * 0.1 * scale)
                        if same:
                            self.widening[ablated] = True
                        else:
                            gap = float((logits[:, few] - copied).abs().max())
                            why = f"widened, it gave logits up to {gap:.3g} away from plain copies'"
                            self._copies_from_now(ablated, k, why)
                        # a piece that passes keeps its widened logits, so that every piece is computed
                        # the same way whichever came first (in any process of a job)
                        logits = logits if same else None
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
            for _, x, _ in self.data.batches(runner.batch_size, indices=indices, pin_memory=dev.type == "cuda"):
                for chunk in chunks(s_total, copies):
                    ablate_chunk(x, first, chunk)
                first += len(x)

        with progress_bar(total=s_total * n, desc="ablation", unit="img", disable=not self.progress or rank != 0) as bar:
            _distributed.sharded(n, runner.batch_size, run, out)
        return out

    def _copies_from_now(self, ablated: tuple[str, ...], k: int, reason: str) -> None:
        """Ablate ``ablated`` by plain copies from now on, and say once why and what it costs."""
        if self.widening.get(ablated) is not False:
            traced = self.runner.wide_trace(frozenset(ablated)) is not None
            warnings.warn(_slow_path_message(ablated, k, reason, traced), stacklevel=2)
        self.widening[ablated] = False


class _NotWide(Exception):
    """The model did not carry a batch widened inside it through to its logits."""


def _slow_path_message(ablated: tuple[str, ...], k: int, reason: str, traced: bool) -> str:
    """What a user reads when ablations of ``ablated`` go as plain copies: the path, its cost
    and how to make the model widen."""
    layers = ", ".join(repr(name) for name in ablated)
    how = (
        "The model traces with torch.fx, yet the wide batch did not pass"
        if traced
        else "The model does not trace with torch.fx (Python control flow on tensor values and the like), "
        "so it ran as it is on the wide batch, and failed"
    )
    return (
        f"ablating {layers}: the model did not carry a batch widened at {layers} to its logits ({reason}). "
        f"Ablations of {layers} therefore go as plain copies: the whole network runs once per ablation and "
        f"image, about {k} forward passes for {k} ablations (widened, the layers below {layers} run once). "
        f"{how}. To widen, let the layers above accept any batch size: flatten with x.flatten(1) or "
        "x.view(x.size(0), -1) rather than with a batch size read from the input (bs = x.size(0) ... "
        "x.view(bs, -1)), do not check the batch size, and keep the forward traceable by torch.fx "
        "(needed for shortcuts around the ablated layer). The results are exact either way; only the time differs."
    )


def _copied(runner: ModelRunner, piece: torch.Tensor, k: int, replacers: dict) -> torch.Tensor:
    """k x B x K logits: the batch repeated once per ablation, each copy with its own mask."""
    batch = piece.unsqueeze(0).expand(k, *piece.shape).reshape(k * len(piece), *piece.shape[1:])
    return runner.forward(batch, replacers).float().reshape(k, len(piece), -1)


def _widened(runner: ModelRunner, piece: torch.Tensor, k: int, replacers: dict) -> torch.Tensor:
    """The same as :func:`_copied`, with the batch widened to k copies only where the first
    ablated layer runs; raises :class:`_NotWide` where the rest of the network does not carry
    the wide batch through (an untraced shortcut, a batch size read from the input and
    checked, ...)."""
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
    except Exception as error:  # the model refused the wide batch: plain copies are exact
        raise _NotWide(f"{type(error).__name__}: {error}") from error
    if logits.shape[0] != k * rows:
        raise _NotWide(f"{logits.shape[0]} rows of logits came out of {k} x {rows}")
    return logits.float().reshape(k, rows, -1)
