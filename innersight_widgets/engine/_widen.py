"""Carrying a widened batch through shortcuts.

Ablating S sets of neurons of one layer, or scaling its activation at S steps, needs the
layers below it only once per image: a hook on the layer repeats its output S times, and
the rest of the network carries S x B rows. A tensor computed below the layer that joins
later (a residual shortcut) still has B rows, and the model's own code cannot add the
two. Run through the model's torch.fx trace one operation at a time, such a tensor is
repeated where it meets the wide one, so that only the part of the network above the
layer runs S times. A model that does not trace gets no trace: it runs as it is.

A model may also read the batch size from a B-row tensor (``bs = x.size(0)``) and use it
above the layer (``h.view(bs, -1)``). Sizes read from B-row values are worked out a second
time as the wide batch has them (on shape-only stand-ins, without computing anything), and
an operation that reads a wide value gets those: ``h.view(S x B, -1)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import fx, nn
from torch.fx.node import map_arg

from ._segment import LayerTracer


def trace_layers(model: nn.Module, layers: set[str]) -> fx.GraphModule | None:
    """The model's fx graph with ``layers`` kept whole (their forward hooks run), or None
    where the model does not trace (data-dependent control flow and the like)."""
    try:
        graph = LayerTracer(layers).trace(model)
    except Exception:  # noqa: BLE001 - fx cannot trace it: the caller runs the model as it is
        return None
    return fx.GraphModule(model, graph)


class WideInterpreter(fx.Interpreter):
    """Runs a traced model on B rows where hooks may widen layers' outputs to S x B rows.

    Values computed from the input that still have B rows are repeated S times (once per
    value) where an operation also reads a wide value, and sizes read from them (an int,
    a ``torch.Size``) are replaced by the sizes the wide value has. Parameters and
    constants are left alone: only values that depend on the input carry the batch.
    """

    def __init__(self, gm: fx.GraphModule, rows: int, copies: int) -> None:
        super().__init__(gm)
        self.rows, self.wide = rows, rows * copies
        self._batch: set[fx.Node] = set()
        self._repeated: dict[fx.Node, torch.Tensor] = {}
        #: sizes read from B-row values, as the S x B rows give them (where they differ)
        self._wide_sizes: dict[fx.Node, Any] = {}

    def run_node(self, n: fx.Node) -> Any:
        if n.op == "placeholder":
            self._batch.add(n)
            return super().run_node(n)
        carried = [i for i in n.all_input_nodes if i in self._batch]
        if not carried:
            return super().run_node(n)
        self._batch.add(n)
        if any(_rows(self.env[i]) == self.wide for i in carried):
            return self._call(n, self._wide_value)
        out = super().run_node(n)
        if _is_size(out) and n.op != "call_module":
            try:
                wide = self._call(n, self._stand_in)
            except Exception:  # noqa: BLE001 - not a size of shapes alone (read from data): left as it is
                return out
            if wide != out:
                self._wide_sizes[n] = wide
        return out

    def _call(self, n: fx.Node, value: Callable[[fx.Node], Any]) -> Any:
        """Run ``n`` on its inputs as ``value`` gives them."""
        with self._set_current_node(n):
            args, kwargs = map_arg(n.args, value), map_arg(n.kwargs, value)
            return getattr(self, n.op)(n.target, args, kwargs)

    def _wide_value(self, i: fx.Node) -> Any:
        """Input ``i`` as the wide batch has it: B rows repeated S times, a size of them widened."""
        if i in self._batch and _rows(self.env[i]) == self.rows:
            if i not in self._repeated:
                v = self.env[i]
                self._repeated[i] = v.repeat(self.wide // self.rows, *([1] * (v.ndim - 1)))
            return self._repeated[i]
        return self._wide_sizes.get(i, self.env[i])

    def _stand_in(self, i: fx.Node) -> Any:
        """Input ``i`` as :meth:`_wide_value` gives it, a tensor only as its shape and type
        (on the meta device: no data, so that only sizes can be read from it)."""
        v = self.env[i]
        if not isinstance(v, torch.Tensor):
            return self._wide_sizes.get(i, v)
        shape = (self.wide, *v.shape[1:]) if i in self._batch and _rows(v) == self.rows else v.shape
        return torch.empty(shape, dtype=v.dtype, device="meta")


def _rows(v: Any) -> int | None:
    return v.shape[0] if isinstance(v, torch.Tensor) and v.ndim else None


def _is_size(v: Any) -> bool:
    """An int, or a tuple, list or ``torch.Size`` of ints: what a shape is read into."""
    items = v if isinstance(v, (tuple, list)) else (v,)
    return bool(items) and all(isinstance(e, int) and not isinstance(e, bool) for e in items)
