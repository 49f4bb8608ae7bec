"""The execution seam: the one object that runs the model.

``ModelRunner`` owns the model, its device and precision, the batch policy and a
re-entrant lock. Every computation of the core (the streaming pass, ablation, flow,
Integrated Gradients, crop statistics, receptive fields) runs the model through
:meth:`ModelRunner.forward`; no other module registers hooks. Hooks are attached for
one forward, under the lock, and act only for the thread that attached them, so a
widget's worker and a notebook cell can share one model.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import ClassVar, Literal

import torch
from torch import fx, nn

from .._validation import Constraint, Interval, Options, check
from ._device import resolve_device
from ._layers import LayerInfo, channel_axis
from ._outputs import OutputReader, find_logits, output_reader
from ._widen import WideInterpreter, trace_layers

#: A hook gets a layer's output and returns a replacement, or None to leave it as it is.
Hook = Callable[[torch.Tensor], "torch.Tensor | None"]
Precision = Literal["fp32", "bf16", "fp16"]
_AUTOCAST = {"bf16": torch.bfloat16, "fp16": torch.float16}


class Cancelled(Exception):
    """A long computation stopped because its ``should_stop`` callback said so."""


class _Stop(BaseException):
    """Raised from the hook of the last layer a forward needs: the rest is skipped. A
    BaseException, so that a model's own ``except Exception`` does not swallow it."""


class ModelRunner:
    """Runs one model for the analysis core: device, precision, batches, hooks and a lock.

    Parameters
    ----------
    model : nn.Module
        Any module returning logits (N x K). It is moved to ``device`` and put in eval mode.
    device : str or torch.device, optional
        ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``; default CUDA when present, else CPU.
    precision : {"fp32", "bf16", "fp16"}
        The forward runs under autocast in bf16 or fp16 (fp16 needs CUDA). Statistics the
        core reduces from activations are always computed in fp32.
    batch_size : int
        Images per forward, for every computation. On CUDA out-of-memory the batch is
        halved and the same work retried (see :meth:`in_batches`).
    output : callable, optional
        Reads the N x K logits out of what the model returns. Default: the output itself
        when it is a tensor, its ``logits`` (a Hugging Face ``ModelOutput``, a dict), or the
        one N x K tensor of a tuple.
    """

    #: The constructor's declared constraints.
    constraints: ClassVar[dict[str, Constraint]] = {
        "precision": Options("fp32", "bf16", "fp16", meaning="the autocast precision of the forward"),
        "batch_size": Interval(int, 1, meaning="images per forward"),
    }

    def __init__(
        self,
        model: nn.Module,
        device: str | torch.device | None = None,
        precision: Precision = "fp32",
        batch_size: int = 256,
        output: OutputReader | None = None,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        precision = check("precision", precision, self.constraints["precision"])
        batch_size = check("batch_size", batch_size, self.constraints["batch_size"])
        self.device = resolve_device(device)
        if precision == "fp16" and self.device.type != "cuda":
            raise ValueError("precision='fp16' needs a CUDA device; on the CPU use precision='bf16' or 'fp32'")
        self.model = model.to(self.device).eval()
        #: The dtype of the model's floating-point weights: images are cast to it (a float64
        #: or bfloat16 model gets float64 or bfloat16 images, a float32 model float32 ones).
        self.input_dtype = next(
            (t.dtype for t in (*model.parameters(), *model.buffers()) if t.is_floating_point()), None
        )
        self.precision = precision
        self.batch_size = batch_size
        self.output = output_reader(output)
        #: Held for every forward; hold it yourself to run several forwards as one unit.
        self.lock = threading.RLock()
        self._modules = dict(self.model.named_modules())
        #: fx traces of the model with some layers kept whole, for widened forwards
        self._traces: dict[frozenset[str], fx.GraphModule | None] = {}

    def __repr__(self) -> str:
        return (
            f"ModelRunner({type(self.model).__name__} on {self.device}, precision={self.precision!r}, "
            f"batch_size={self.batch_size})"
        )

    # ------------------------------------------------------------------ running
    def to_device(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` on the runner's device (a non-blocking copy from pinned memory on CUDA), in
        the model's weight dtype when both are floating point."""
        dtype = self.input_dtype if x.is_floating_point() and self.input_dtype is not None else x.dtype
        return x.to(self.device, dtype=dtype, non_blocking=x.is_pinned())

    def forward(
        self,
        x: torch.Tensor,
        hooks: Mapping[str, Hook] | None = None,
        stop_after: str | None = None,
        grad: bool = False,
        copies: int = 1,
    ) -> torch.Tensor:
        """Run the model on ``x`` with ``hooks`` attached for this forward only.

        Parameters
        ----------
        x : Tensor, B x ...
            The model's input; moved to the device.
        hooks : dict of layer name -> callable
            Each gets the layer's output (B x ...) and returns a replacement or None
            (capture, mask or replace channels).
        stop_after : str, optional
            Return this layer's output and skip the rest of the network.
        grad : bool
            Record the graph for autograd (else the forward runs in inference mode).
        copies : int
            Hooks may widen their layer's output from B to ``copies`` x B rows (one copy
            per ablation or per step), so that the layers below run once per image. With
            ``copies`` > 1 the model runs through its torch.fx trace, which repeats a
            tensor from below a widened layer where it joins a wide one (a residual
            shortcut); a model that does not trace runs as it is.

        Returns
        -------
        Tensor
            The output of ``stop_after``, or the model's logits (see :meth:`logits`).
        """
        hooks = dict(hooks or {})
        for name in [*hooks, *([stop_after] if stop_after is not None else [])]:
            if name not in self._modules or not name:
                raise ValueError(f"the model has no layer named {name!r}")
        owner = threading.get_ident()
        calls: dict[str, int] = {}
        captured: dict[str, torch.Tensor] = {}

        def attach(name: str) -> Callable:
            fn = hooks.get(name)

            def hook(_module: nn.Module, _inputs: object, output: torch.Tensor) -> torch.Tensor | None:
                if threading.get_ident() != owner:
                    return None  # another thread running the same module outside the runner
                calls[name] = calls.get(name, 0) + 1
                if calls[name] > 1:
                    raise RuntimeError(
                        f"layer {name!r} ran twice in one forward pass (a module shared between places); "
                        "choose a module that is used once"
                    )
                replaced = fn(output) if fn is not None else None
                if name == stop_after:
                    captured["out"] = output if replaced is None else replaced
                    raise _Stop
                return replaced

            return hook

        names = set(hooks) | ({stop_after} if stop_after is not None else set())
        mode = torch.enable_grad() if grad else torch.inference_mode()
        with self.lock:
            handles = [self._modules[n].register_forward_hook(attach(n)) for n in names]
            try:
                with mode, self._autocast():
                    try:
                        out = self._call(self.to_device(x), frozenset(names), copies)
                    except _Stop:
                        return captured["out"]
            finally:
                for handle in handles:
                    handle.remove()
        if stop_after is not None:
            raise ValueError(f"layer {stop_after!r} did not run in the forward pass, or ran after the hook was needed")
        return self.logits(out, len(x) * copies)

    def logits(self, output: object, rows: int) -> torch.Tensor:
        """The N x K logits in what the model returned for ``rows`` images, read by the
        runner's ``output`` callable or found (:func:`find_logits`)."""
        return self.output(output) if self.output is not None else find_logits(output, rows)

    def _call(self, x: torch.Tensor, hooked: frozenset[str], copies: int) -> torch.Tensor:
        if copies == 1:
            return self.model(x)
        gm = self.wide_trace(hooked)
        return self.model(x) if gm is None else WideInterpreter(gm, len(x), copies).run(x)

    def wide_trace(self, hooked: frozenset[str]) -> fx.GraphModule | None:
        """The model's torch.fx trace through which a forward with ``copies`` > 1 runs.

        Parameters
        ----------
        hooked : frozenset of str
            The layers hooked in that forward: kept whole in the trace, so that their
            hooks run. The trace is made once per set of layers.

        Returns
        -------
        fx.GraphModule or None
            The trace; None where the model does not trace (Python control flow on tensor
            values and the like): such a forward runs the model as it is, and a tensor
            from below a widened layer cannot be repeated where it joins the wide batch.
        """
        if hooked not in self._traces:
            self._traces[hooked] = trace_layers(self.model, set(hooked))
        return self._traces[hooked]

    def in_batches(self, total: int, work: Callable[[slice], None], size: int | None = None) -> None:
        """Call ``work(rows)`` on consecutive slices of ``range(total)``.

        Slices hold ``size`` (default ``batch_size``) items. When a slice runs out of CUDA
        memory, the size is halved for it and the rest, and the slice is done again:
        ``work`` must write its results for ``rows`` only, so that a redo replaces them.
        """
        size = max(1, size or self.batch_size)
        start = 0
        while start < total:
            rows = slice(start, min(start + size, total))
            try:
                work(rows)
            except torch.cuda.OutOfMemoryError:
                if size == 1:
                    raise
                size //= 2
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
                continue
            start = rows.stop

    # ------------------------------------------------------------- structure
    def discover(self, example: torch.Tensor) -> tuple[dict[str, LayerInfo], object, dict[str, str]]:
        """What one forward of ``example`` shows of the model's layers.

        Returns
        -------
        layers : dict of name -> LayerInfo
            Every module that ran once with a B x F, B x T x D or B x C x H x W tensor
            output, in the order they ran (the order data flows through them, whatever
            the order the modules were registered in).
        output : object
            The model's output.
        refused : dict of name -> str
            Every other module, with why it cannot be a layer of the analysis ("returns a
            tuple", "did not run", ...), so that asking for it gets that reason.
        """
        found: dict[str, LayerInfo] = {}
        outputs: dict[str, str] = {}
        calls: dict[str, int] = {}
        owner = threading.get_ident()

        def record(name: str, module: nn.Module) -> Callable:
            def hook(_module: nn.Module, _inputs: object, output: object) -> None:
                if threading.get_ident() != owner:
                    return
                calls[name] = calls.get(name, 0) + 1
                if isinstance(output, torch.Tensor) and 2 <= output.ndim <= 4:
                    found.setdefault(name, LayerInfo(
                        name, type(module).__name__, tuple(output.shape[1:]), channel_axis(module, output.ndim)
                    ))
                elif isinstance(output, torch.Tensor):
                    outputs[name] = f"returns a {output.ndim}-D tensor (a layer's output is B x F, B x T x D or B x C x H x W)"
                else:
                    outputs[name] = f"returns a {type(output).__name__}, not a tensor; choose a submodule that returns one"

            return hook

        with self.lock:
            handles = [m.register_forward_hook(record(n, m)) for n, m in self._modules.items() if n]
            try:
                with torch.inference_mode(), self._autocast():
                    output = self.model(self.to_device(example))
            except Exception as error:
                raise ValueError(
                    f"the model failed on a batch of {len(example)} probe image(s) of shape "
                    f"{tuple(example.shape[1:])} ({example.dtype}): {error}. Give images with the channels, "
                    "size and layout (N x C x H x W, channels first) the model was trained on"
                ) from error
            finally:
                for h in handles:
                    h.remove()
        refused = {n: "did not run in a forward pass of the probe images" for n in self._modules if n and n not in calls}
        refused.update(outputs)
        for name, count in calls.items():
            if count > 1:
                found.pop(name, None)
                refused[name] = (
                    f"runs {count} times in one forward pass (a module shared between places or called in a "
                    "loop), so it has no one output; choose a module that runs once"
                )
        return found, output, refused

    def feeds(self, example: torch.Tensor, lower: str, upper: str | None) -> bool:
        """Whether ``upper``'s output (the model's output when None) is computed from
        ``lower``'s: a gradient path joins them."""
        leaf: dict[str, torch.Tensor] = {}

        def detach(out: torch.Tensor) -> torch.Tensor:
            leaf["a"] = out.detach().requires_grad_(True)
            return leaf["a"]

        out = self.forward(example, {lower: detach}, stop_after=upper, grad=True)
        if "a" not in leaf or not out.requires_grad:
            return False
        with torch.enable_grad():
            (g,) = torch.autograd.grad(out.float().sum(), leaf["a"], allow_unused=True)
        return g is not None

    def module(self, name: str) -> nn.Module:
        """The module called ``name`` in ``model.named_modules()``."""
        if name not in self._modules:
            raise ValueError(f"the model has no layer named {name!r}")
        return self._modules[name]

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.precision == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=_AUTOCAST[self.precision])


def pooled(output: torch.Tensor, info: LayerInfo, how: Literal["mean", "max"] = "mean") -> torch.Tensor:
    """B x C: each neuron's output pooled over space or tokens, in fp32."""
    flat = neurons_first(output, info)
    return flat.amax(2) if how == "max" else flat.mean(2)


def neurons_first(output: torch.Tensor, info: LayerInfo) -> torch.Tensor:
    """B x C x (positions, flattened) in fp32, whatever the layer's layout; of a patch layer,
    the tokens its profiles pool (:attr:`LayerInfo.pooled_tokens`)."""
    out = output if info.grid is None else output[:, info.pooled_tokens]
    if info.channel_axis != 1:
        out = out.movedim(info.channel_axis, 1)
    return out.reshape(out.shape[0], out.shape[1], -1).float()


def channel_replacer(info: LayerInfo, mask: torch.Tensor, fill: torch.Tensor | float = 0.0) -> Hook:
    """A hook that replaces the masked neurons of ``info``'s layer with ``fill``.

    ``mask`` is C (the same neurons in every image) or S x C: then the batch holds S
    copies one after another, and copy s gets row s of the mask. ``fill`` is a scalar
    or one value per neuron (C).
    """
    copies = 1 if mask.ndim == 1 else mask.shape[0]
    mask2 = mask.view(copies, info.num_neurons)

    def hook(output: torch.Tensor) -> torch.Tensor:
        grouped = output.reshape(copies, output.shape[0] // copies, *output.shape[1:])
        shape = [copies, 1] + [1] * (output.ndim - 1)
        shape[1 + info.channel_axis] = info.num_neurons
        values = torch.as_tensor(fill, dtype=output.dtype, device=output.device)
        if values.ndim:
            fill_shape = [1] * len(shape)
            fill_shape[1 + info.channel_axis] = info.num_neurons
            values = values.view(fill_shape)
        return torch.where(mask2.to(output.device).view(shape), values, grouped).reshape(output.shape)

    return hook


def chunks(total: int, size: int) -> Iterator[slice]:
    """Consecutive slices of ``range(total)`` of at most ``size`` items."""
    for start in range(0, total, size):
        yield slice(start, min(start + size, total))
