"""Finding layers by name, learning their activation shapes, and hooking them safely."""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

# Modules whose neurons are "learnable units" in the METHODS.md sense: the default selection.
_UNIT_TYPES = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
# Modules whose 3-D output is B x C x L (channels first) rather than B x T x D (tokens).
_CHANNELS_FIRST_1D = (nn.Conv1d, nn.ConvTranspose1d, nn.BatchNorm1d, nn.MaxPool1d, nn.AvgPool1d)


@dataclass(frozen=True)
class LayerInfo:
    """A hookable layer: its ``named_modules()`` name, module type and per-image output shape."""

    name: str
    module_type: str
    shape: tuple[int, ...]
    channel_axis: int

    @property
    def num_neurons(self) -> int:
        return self.shape[self.channel_axis - 1]

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        """The shape pooled over for each neuron (H x W, tokens, or () for flat features)."""
        return tuple(s for i, s in enumerate(self.shape, start=1) if i != self.channel_axis)

    @property
    def kind(self) -> str:
        return {1: "features", 2: "tokens" if self.channel_axis == 2 else "sequence", 3: "conv"}[
            len(self.shape)
        ]


class StopForward(Exception):
    """Raised from a hook once everything needed is captured: the rest of the forward is skipped."""


class LayerNotFoundError(ValueError):
    """A layer name that is not a module of the model (the message lists close matches)."""


def resolve(names: Sequence[str], known: Sequence[str]) -> list[str]:
    """Check that every name is known; raise with close matches otherwise. Keeps order, drops repeats."""
    known_set = set(known)
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"layer names are strings from model.named_modules(), got {name!r}")
        if name not in known_set:
            close = difflib.get_close_matches(name, known, n=6, cutoff=0.5)
            hint = f"did you mean {', '.join(map(repr, close))}?" if close else (
                f"the model's layers are: {', '.join(list(known)[:30])}"
                + (" ..." if len(known) > 30 else "")
            )
            raise LayerNotFoundError(f"the model has no layer named {name!r}; {hint}")
    return list(dict.fromkeys(names))


def channel_axis(module: nn.Module, ndim: int) -> int:
    """Where the neurons are in a module's output (batch axis is 0)."""
    if ndim == 3 and not isinstance(module, _CHANNELS_FIRST_1D):
        return 2
    return 1


def discover(model: nn.Module, example: torch.Tensor) -> tuple[dict[str, LayerInfo], object]:
    """Run one small batch with hooks on every module; return the usable layers and the output."""
    modules = dict(model.named_modules())
    found: dict[str, LayerInfo] = {}

    def record(name: str, module: nn.Module) -> Callable:
        def hook(_module: nn.Module, _inputs: object, output: object) -> None:
            if isinstance(output, torch.Tensor) and 2 <= output.ndim <= 4 and name not in found:
                found[name] = LayerInfo(
                    name, type(module).__name__, tuple(output.shape[1:]), channel_axis(module, output.ndim)
                )

        return hook

    handles = [m.register_forward_hook(record(n, m)) for n, m in modules.items() if n]
    try:
        with torch.inference_mode():
            output = model(example)
    finally:
        for h in handles:
            h.remove()
    order = {n: i for i, n in enumerate(modules)}
    return dict(sorted(found.items(), key=lambda kv: order[kv[0]])), output


def default_layers(model: nn.Module, layers: dict[str, LayerInfo]) -> list[str]:
    """The conv and linear layers: the learnable units METHODS.md calls neurons."""
    modules = dict(model.named_modules())
    return [n for n in layers if isinstance(modules[n], _UNIT_TYPES)]


@contextmanager
def hooked(
    model: nn.Module, hooks: dict[str, Callable[[nn.Module, object, torch.Tensor], torch.Tensor | None]]
) -> Iterator[None]:
    """Attach forward hooks by layer name; refuse layers that run more than once per forward."""
    modules = dict(model.named_modules())
    calls: dict[str, int] = {}

    def guarded(name: str, fn: Callable) -> Callable:
        def hook(module: nn.Module, inputs: object, output: torch.Tensor) -> torch.Tensor | None:
            calls[name] = calls.get(name, 0) + 1
            if calls[name] > 1:
                raise RuntimeError(
                    f"layer {name!r} ran twice in one forward pass (a module shared between "
                    "places); choose a module that is used once"
                )
            return fn(module, inputs, output)

        return hook

    handles = [modules[n].register_forward_hook(guarded(n, fn)) for n, fn in hooks.items()]
    handles.append(model.register_forward_pre_hook(lambda _module, _inputs: calls.clear()))
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def output_of(
    model: nn.Module,
    layer: str | None,
    x: torch.Tensor,
    hooks: dict[str, Callable[[nn.Module, object, torch.Tensor], torch.Tensor | None]] | None = None,
) -> torch.Tensor:
    """``layer``'s output for ``x``, the layers after it not run (the model's output when
    ``layer`` is None); ``hooks`` are attached for the pass as well."""
    captured: dict[str, torch.Tensor] = {}

    def grab(_m: nn.Module, _i: object, out: torch.Tensor) -> None:
        captured["out"] = out
        raise StopForward

    with hooked(model, {**(hooks or {}), **({layer: grab} if layer is not None else {})}):
        try:
            captured["out"] = model(x)
        except StopForward:
            pass
    return captured["out"]
