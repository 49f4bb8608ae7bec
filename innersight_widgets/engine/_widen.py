"""Carrying a widened batch through shortcuts.

Ablating S sets of neurons of one layer, or scaling its activation at S steps, needs the
layers below it only once per image: a hook on the layer repeats its output S times, and
the rest of the network carries S x B rows. A tensor computed below the layer that joins
later (a residual shortcut) still has B rows, and the model's own code cannot add the
two. Run through the model's torch.fx trace one operation at a time, such a tensor is
repeated where it meets the wide one, so that only the part of the network above the
layer runs S times. A model that does not trace gets no trace: it runs as it is.
"""

from __future__ import annotations

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
    value) where an operation also reads a wide value. Parameters and constants are left
    alone: only values that depend on the input carry the batch.
    """

    def __init__(self, gm: fx.GraphModule, rows: int, copies: int) -> None:
        super().__init__(gm)
        self.rows, self.wide = rows, rows * copies
        self._batch: set[fx.Node] = set()
        self._repeated: dict[fx.Node, torch.Tensor] = {}

    def run_node(self, n: fx.Node) -> Any:
        if n.op == "placeholder":
            self._batch.add(n)
            return super().run_node(n)
        carried = [i for i in n.all_input_nodes if i in self._batch]
        if not carried:
            return super().run_node(n)
        self._batch.add(n)
        if not any(_rows(self.env[i]) == self.wide for i in carried):
            return super().run_node(n)

        def value(i: fx.Node) -> Any:
            if i in self._batch and _rows(self.env[i]) == self.rows:
                if i not in self._repeated:
                    v = self.env[i]
                    self._repeated[i] = v.repeat(self.wide // self.rows, *([1] * (v.ndim - 1)))
                return self._repeated[i]
            return self.env[i]

        with self._set_current_node(n):
            args, kwargs = map_arg(n.args, value), map_arg(n.kwargs, value)
            return getattr(self, n.op)(n.target, args, kwargs)


def _rows(v: Any) -> int | None:
    return v.shape[0] if isinstance(v, torch.Tensor) and v.ndim else None
