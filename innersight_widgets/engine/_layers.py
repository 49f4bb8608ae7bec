"""Layers by name: what a hookable layer is, checking names, and the default selection."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from torch import nn

# Modules whose neurons are "learnable units" in the sense of docs/methods.md: the default selection.
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


class LayerNotFoundError(ValueError):
    """A layer name that is not a module of the model (the message lists close matches)."""


def resolve(names: Sequence[str], known: Sequence[str], refused: Mapping[str, str] | None = None) -> list[str]:
    """Check that every name is known; raise with the reason for a module in ``refused``
    (name -> why it cannot be a layer), with close matches otherwise. Keeps order, drops
    repeats."""
    known_set = set(known)
    refused = refused or {}
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"layer names are strings from model.named_modules(), got {name!r}")
        if name in refused:
            raise LayerNotFoundError(f"layer {name!r} cannot be analysed: it {refused[name]}")
        if name not in known_set:
            close = difflib.get_close_matches(name, [*known, *refused], n=6, cutoff=0.5)
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


def default_layers(model: nn.Module, layers: dict[str, LayerInfo]) -> list[str]:
    """The conv and linear layers: the learnable units docs/methods.md calls neurons."""
    modules = dict(model.named_modules())
    return [n for n in layers if is_unit(modules[n])]


def is_unit(module: nn.Module) -> bool:
    """A conv or linear layer, whose output channels are the neurons of the default selection."""
    return isinstance(module, _UNIT_TYPES)
