"""Exact shortcuts for Integrated Gradients through the piece of a network between two layers.

Between the lower layer (activation A) and the target channel of the upper layer, two
facts save most of the work of "one forward and backward per step", and both are exact:

* The affine head. The operations right after the lower layer that are affine in A
  (convolutions, linear layers, BatchNorm in eval mode, average pooling, flattening,
  sums of these) satisfy h(alpha A) = h(0) + alpha (h(A) - h(0)): they run twice per
  row instead of once per step. Their Jacobian does not depend on alpha either, so the
  step-mean of the gradient goes back through them once.
* The target channel. On the way from the last channel-mixing operation (a convolution
  or linear layer) to the target, the operations are channel-wise (ReLU, BatchNorm, sums,
  pooling): only the row's target channel is computed, and the mixing operation computes
  that one output channel.

The piece is read from a torch.fx trace. A model that does not trace, or a piece with an
input from below the lower layer (a shortcut around it), gets no plan: the caller then
uses the plain path.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import fx, nn
from torch.fx.node import map_arg
from torch.nn.modules.batchnorm import _BatchNorm

_SUMS = {operator.add, operator.iadd, operator.sub, operator.isub, torch.add, torch.sub}
_OUT_OF_PLACE = {operator.iadd: operator.add, operator.isub: operator.sub}
_RELUS = {F.relu, torch.relu}
_POOL_FUNCTIONS = {F.avg_pool2d, F.adaptive_avg_pool2d, F.max_pool2d}
_AFFINE_MODULES = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear, nn.Identity, nn.Flatten, nn.AvgPool2d, nn.AdaptiveAvgPool2d)
_CHANNELWISE_MODULES = (nn.ReLU, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.Identity)


class Unsupported(RuntimeError):
    """The plan met something it cannot compute sliced; the caller uses the plain path."""


class LayerTracer(fx.Tracer):
    """Keeps the named layers whole (one node each, so that their hooks run) and notes the
    nodes the ``upper`` layer returns."""

    def __init__(self, leaves: set[str], upper: str | None = None) -> None:
        super().__init__()
        self.leaves, self.upper = leaves, upper
        self.upper_outputs: list[Any] = []

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return qualname in self.leaves or super().is_leaf_module(m, qualname)

    def call_module(self, m: nn.Module, forward: Callable, args: tuple, kwargs: dict) -> Any:
        out = super().call_module(m, forward, args, kwargs)
        if self.upper is not None and self.path_of_module(m) == self.upper:
            self.upper_outputs.append(out)
        return out


def _eval_mode(m: nn.Module) -> bool:
    return not m.training


def _frozen_batchnorm(m: nn.Module) -> bool:
    return isinstance(m, _BatchNorm) and _eval_mode(m) and m.running_mean is not None


def _identity(m: nn.Module) -> bool:
    return isinstance(m, nn.Identity) or (isinstance(m, nn.modules.dropout._DropoutNd) and _eval_mode(m))


class SegmentPlan:
    """How to compute, for rows of lower activations, the step-mean gradient of each row's
    target (one channel of the upper layer, averaged over positions, or one logit)."""

    def __init__(self, gm: fx.GraphModule, x: fx.Node, out: fx.Node, nodes: list[fx.Node], outside: list[fx.Node]) -> None:
        self.gm, self.x, self.out = gm, x, out
        self.outside = outside  # get_attr nodes the piece reads
        self._zero: dict[tuple[int, ...], dict[fx.Node, Any]] = {}
        head = {x}
        for node in nodes:
            if node is not x and self._affine(node, head):
                head.add(node)
        self.head = [n for n in nodes if n in head]
        self.rest = [n for n in nodes if n not in head]
        rest = set(self.rest)
        self.frontier = [n for n in self.head if n is out or any(u in rest for u in n.users)]
        self.sliced: set[fx.Node] = set()
        for node in reversed(self.rest):
            kind = self._slice_kind(node)
            if kind == "channel" and any(i in outside for i in node.all_input_nodes):
                kind = None  # a parameter read directly has no row to take a channel from
            users = [u for u in node.users if u in rest]
            if kind and (node is out or (users and all(u in self.sliced and self._slice_kind(u) == "channel" for u in users))):
                self.sliced.add(node)
        # frontier values only ever read at the target channel: taken per row before stepping
        self.taken = {
            n for n in self.frontier
            if all(u in self.sliced and self._slice_kind(u) == "channel" for u in n.users if u in rest)
        }

    # ------------------------------------------------------------ classification
    def _module(self, node: fx.Node) -> nn.Module | None:
        return self.gm.get_submodule(node.target) if node.op == "call_module" else None

    def _affine(self, node: fx.Node, head: set[fx.Node]) -> bool:
        """Affine in A: an affine operation whose tensor inputs are all affine in A."""
        inputs = node.all_input_nodes
        if not inputs or any(n not in head for n in inputs):
            return False
        m = self._module(node)
        if m is not None:
            return isinstance(m, _AFFINE_MODULES) or _frozen_batchnorm(m) or _identity(m)
        if node.op == "call_function":
            if node.target in _SUMS or node.target in (torch.flatten, F.avg_pool2d, F.adaptive_avg_pool2d):
                return True
            return node.target in (operator.mul, operator.truediv, torch.mul) and len(inputs) == 1
        if node.op == "call_method":
            return node.target in ("flatten", "view", "reshape", "add", "sub") or (
                node.target in ("mul", "div") and len(inputs) == 1
            )
        return False

    def _slice_kind(self, node: fx.Node) -> str | None:
        """'mix': computes one output channel from all inputs; 'channel': channel c from channel c."""
        m = self._module(node)
        if m is not None:
            if isinstance(m, nn.Conv2d) and m.groups == 1 and m.padding_mode == "zeros" and not isinstance(m.padding, str):
                return "mix"
            if isinstance(m, nn.Linear):
                return "mix"
            if isinstance(m, _CHANNELWISE_MODULES) or _frozen_batchnorm(m) or _identity(m):
                return "channel"
            return None
        if node.op == "call_function" and (node.target in _SUMS or node.target in _RELUS or node.target in _POOL_FUNCTIONS):
            return "channel"
        if node.op == "call_method" and node.target in ("relu", "add", "sub"):
            return "channel"
        return None

    # ------------------------------------------------------------ evaluation
    def mean_gradient(self, act: torch.Tensor, targets: torch.Tensor, alphas: torch.Tensor) -> torch.Tensor:
        """d target / d A averaged over the steps alpha * A, one row per row of ``act``
        (``targets``: each row's channel of the upper layer, or logit)."""
        steps, rows = len(alphas), act.shape[0]
        params = {n: self._fetch(n) for n in self.outside}
        t = targets.repeat(steps)
        with torch.enable_grad():
            a = act.detach().requires_grad_(True)
            at_a = self._run(self.head[1:], params | {self.x: a}, t)
            at_0 = self._at_zero(act, params)
            ends = {n: _take(at_a[n], targets) if n in self.taken else at_a[n] for n in self.frontier}
            leaves = {}
            for node in self.frontier:
                h1 = ends[node].detach()
                h0 = _take(at_0[node], targets) if node in self.taken else at_0[node]
                weight = alphas.view([steps] + [1] * h1.ndim)
                stepped = torch.lerp(h0.unsqueeze(0), h1.unsqueeze(0), weight)
                leaves[node] = stepped.reshape(steps * rows, *h1.shape[1:]).requires_grad_(True)
            env = self._run(self.rest, params | leaves, t)
            value = env[self.out] if self.out in self.sliced or self.out in self.taken else _take(env[self.out], t)
            wanted = [leaves[n] for n in self.frontier]
            grads = torch.autograd.grad(value.reshape(len(t), -1).mean(1).sum(), wanted, allow_unused=True)
            means = [
                (torch.zeros_like(leaf) if g is None else g).reshape(steps, rows, *leaf.shape[1:]).mean(0)
                for g, leaf in zip(grads, wanted)
            ]
            (grad,) = torch.autograd.grad([ends[n] for n in self.frontier], a, grad_outputs=means, allow_unused=True)
        return torch.zeros_like(act) if grad is None else grad

    def _at_zero(self, act: torch.Tensor, params: dict[fx.Node, Any]) -> dict[fx.Node, Any]:
        """The head at A = 0: the same for every row, so run once per batch size."""
        key = tuple(act.shape)
        if key not in self._zero:
            with torch.no_grad():
                self._zero[key] = self._run(self.head[1:], params | {self.x: torch.zeros_like(act)}, None)
        return self._zero[key]

    def _run(self, nodes: list[fx.Node], env: dict[fx.Node, Any], t: torch.Tensor | None) -> dict[fx.Node, Any]:
        for node in nodes:
            env[node] = self._sliced(node, env, t) if node in self.sliced else self._call(node, env, lambda n: env[n])
        return env

    def _call(self, node: fx.Node, env: dict[fx.Node, Any], value: Callable[[fx.Node], Any]) -> Any:
        """Run one node as the model would, out of place (inputs may be leaves needing grad)."""
        args, kwargs = map_arg(node.args, value), map_arg(node.kwargs, value)
        if node.op == "call_module":
            m = self._module(node)
            if getattr(m, "inplace", False):
                args = (args[0].clone(), *args[1:])
            return m(*args, **kwargs)
        if node.op == "call_function":
            if kwargs.get("inplace"):
                kwargs = {**kwargs, "inplace": False}
            return _OUT_OF_PLACE.get(node.target, node.target)(*args, **kwargs)
        if node.op == "call_method":
            name = node.target
            if name.endswith("_") and hasattr(torch.Tensor, name[:-1]):
                name = name[:-1]
            return getattr(args[0], name)(*args[1:], **kwargs)
        raise Unsupported(f"cannot run a {node.op} node ({node.target})")

    def _sliced(self, node: fx.Node, env: dict[fx.Node, Any], t: torch.Tensor) -> torch.Tensor:
        """The node's output at each row's target channel only: N x 1 x ..."""
        m = self._module(node)

        def piece(n: fx.Node) -> Any:
            return env[n] if n in self.sliced or n in self.taken else _take(env[n], t)

        if isinstance(m, nn.Conv2d):
            return _conv_channel(m, env[node.args[0]], t)
        if isinstance(m, nn.Linear):
            x = env[node.args[0]]
            if x.ndim != 2:
                raise Unsupported("a linear layer on more than 2-D input")
            out = (x * m.weight[t]).sum(1, keepdim=True)
            return out if m.bias is None else out + m.bias[t].unsqueeze(1)
        if m is not None and _frozen_batchnorm(m):
            x = piece(node.args[0])
            scale = (m.running_var + m.eps).rsqrt()
            scale = scale if m.weight is None else scale * m.weight
            shift = -m.running_mean * scale if m.bias is None else m.bias - m.running_mean * scale
            shape = (-1, 1) + (1,) * (x.ndim - 2)
            return x * scale[t].view(shape) + shift[t].view(shape)
        return self._call(node, env, piece)

    def _fetch(self, node: fx.Node) -> Any:
        obj: Any = self.gm
        for part in str(node.target).split("."):
            obj = getattr(obj, part)
        return obj


def _take(v: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Row i's channel t[i] of v: N x 1 x ..."""
    index = t.view(-1, *([1] * (v.ndim - 1))).expand(v.shape[0], 1, *v.shape[2:])
    return v.gather(1, index)


def _conv_channel(m: nn.Conv2d, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Output channel t[i] of the convolution for row i: one batched matmul contracts the
    input channels with each row's filter into one map per kernel tap, then the shifted
    tap maps are summed."""
    n, c, h, w = x.shape
    (kh, kw), (ph, pw), (sh, sw), (dh, dw) = m.kernel_size, m.padding, m.stride, m.dilation
    taps = m.weight[t].reshape(n, c, kh * kw).transpose(1, 2)
    z = F.pad(torch.bmm(taps, x.reshape(n, c, h * w)).view(n, kh * kw, h, w), (pw, pw, ph, ph))
    ho = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    wo = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    out = sum(
        z[:, i * kw + j, i * dh : i * dh + sh * (ho - 1) + 1 : sh, j * dw : j * dw + sw * (wo - 1) + 1 : sw]
        for i in range(kh)
        for j in range(kw)
    )
    if m.bias is not None:
        out = out + m.bias[t].view(n, 1, 1)
    return out.unsqueeze(1)


def plan_segment(model: nn.Module, lower: str, upper: str | None) -> SegmentPlan | None:
    """The plan for IG of ``upper``'s channels (or the logits) with respect to ``lower``, or
    None where the model does not trace or the piece reads from below ``lower``."""
    tracer = LayerTracer({lower}, upper)
    try:
        graph = tracer.trace(model)
    except Exception:  # noqa: BLE001 - fx cannot trace it (data-dependent control flow): the plain path can
        return None
    order = list(graph.nodes)
    xs = [n for n in order if n.op == "call_module" and n.target == lower]
    if upper is None:
        out = next(n for n in order if n.op == "output").args[0]
    else:
        outs = tracer.upper_outputs
        out = outs[0].node if len(outs) == 1 and isinstance(outs[0], fx.Proxy) else None
    if len(xs) != 1 or not isinstance(out, fx.Node):
        return None
    reach = {xs[0]}
    for node in order:
        if any(i in reach for i in node.all_input_nodes):
            reach.add(node)
    need = {out}
    for node in reversed(order):
        if node in need:
            need.update(node.all_input_nodes)
    if out not in reach:
        return None
    segment = [n for n in order if n in reach and n in need]
    outside = [n for n in order if n not in reach and any(n in s.all_input_nodes for s in segment[1:])]
    if any(n.op != "get_attr" for n in outside):
        return None
    return SegmentPlan(fx.GraphModule(tracer.root, graph), xs[0], out, segment, outside)
