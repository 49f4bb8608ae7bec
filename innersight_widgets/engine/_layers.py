"""Layers by name: what a hookable layer is, checking names, and the default selection."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from torch import nn

# Modules whose neurons are "learnable units" in the sense of docs/methods.md: the default selection.
_UNIT_TYPES = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
# Modules whose 3-D output is B x C x L (channels first) rather than B x T x D (tokens).
_CHANNELS_FIRST_1D = (nn.Conv1d, nn.ConvTranspose1d, nn.BatchNorm1d, nn.MaxPool1d, nn.AvgPool1d)
# Modules whose features are always the last axis: a 4-D output is B x H x W x C (channels last).
_FEATURES_LAST = (nn.Linear, nn.LayerNorm)
# The most tokens a patch layer may hold before its patches (CLS, distillation, register tokens).
MAX_PREFIX_TOKENS = 16

#: Which tokens of a patch layer a neuron's profile pools: the patch tokens, the first
#: (CLS) token, or all of them.
Tokens = Literal["patches", "cls", "all"]


@dataclass(frozen=True)
class LayerInfo:
    """A hookable layer: its ``named_modules()`` name, module type and per-image output shape."""

    name: str
    module_type: str
    shape: tuple[int, ...]
    channel_axis: int
    #: For a token layer (B x T x D) of a patch-based model: the patch grid (h, w) that its
    #: patch tokens, after ``prefix`` tokens (CLS, registers), lay over the image, row by row.
    grid: tuple[int, int] | None = None
    prefix: int = 0
    #: Which of a patch layer's tokens a neuron's profile pools (see :data:`Tokens`).
    tokens: Tokens = "patches"

    @property
    def num_neurons(self) -> int:
        return self.shape[self.channel_axis - 1]

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        """The shape pooled over for each neuron: H x W of a conv map, the patch grid of a
        patch layer's patch tokens, the tokens, or () for flat features and a CLS token."""
        if self.grid is not None:
            return {"patches": self.grid, "cls": (), "all": (self.shape[0],)}[self.tokens]
        return tuple(s for i, s in enumerate(self.shape, start=1) if i != self.channel_axis)

    @property
    def pooled_tokens(self) -> slice:
        """The tokens (axis 1 of the output) that a neuron's profile pools."""
        if self.grid is None or self.tokens == "all":
            return slice(None)
        if self.tokens == "cls":
            return slice(0, 1)
        return slice(self.prefix, self.prefix + self.grid[0] * self.grid[1])

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
    """Where the neurons are in a module's output (batch axis is 0): last for tokens
    (B x T x D) and for a linear or layer-norm module's B x H x W x C map, else 1."""
    if ndim == 3 and not isinstance(module, _CHANNELS_FIRST_1D):
        return 2
    if ndim == 4 and isinstance(module, _FEATURES_LAST):
        return 3
    return 1


def patch_grid(model: nn.Module, layers: Mapping[str, LayerInfo], image_channels: int) -> tuple[int, int] | None:
    """The patch grid of a patch-based model: the map of its patch embedding, the first conv
    layer that reads the image in non-overlapping patches (kernel = stride > 1); None when
    there is none."""
    modules = dict(model.named_modules())
    for info in layers.values():
        module = modules[info.name]
        if (
            isinstance(module, nn.Conv2d) and module.in_channels == image_channels and len(info.shape) == 3
            and tuple(module.kernel_size) == tuple(module.stride) and min(module.stride) > 1
        ):
            return info.shape[1], info.shape[2]
    return None


def with_token_grid(
    layers: Mapping[str, LayerInfo], grid: tuple[int, int] | None, prefix: int | None, tokens: Tokens
) -> dict[str, LayerInfo]:
    """``layers`` with the patch ``grid`` given to every token layer (B x T x D) whose tokens
    are ``prefix`` tokens and then one per patch (``prefix`` None: any number of leading
    tokens up to :data:`MAX_PREFIX_TOKENS`), pooled as ``tokens`` says."""
    if grid is None:
        return dict(layers)
    patches = grid[0] * grid[1]
    out = {}
    for name, info in layers.items():
        extra = info.shape[0] - patches if len(info.shape) == 2 and info.channel_axis == 2 else -1
        fits = extra == prefix if prefix is not None else 0 <= extra <= MAX_PREFIX_TOKENS
        out[name] = replace(info, grid=tuple(grid), prefix=extra, tokens=tokens) if fits else info
    return out


def default_layers(model: nn.Module, layers: dict[str, LayerInfo]) -> list[str]:
    """The conv and linear layers: the learnable units docs/methods.md calls neurons."""
    modules = dict(model.named_modules())
    return [n for n in layers if is_unit(modules[n])]


def is_unit(module: nn.Module) -> bool:
    """A conv or linear layer, whose output channels are the neurons of the default selection."""
    return isinstance(module, _UNIT_TYPES)
