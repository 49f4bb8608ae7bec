"""Flow between communities and pathways into classes (docs/methods.md, sections 3.4
(evaluation 5) and 3.6).

A partition's *parts* are its communities' members in one layer. Between consecutive
layers, parts are joined by the summed flow edges of their members; the parts of the last
layer are joined to each class by the attribution of the class logit to their members.
The pathways into a class are the strongest chains of parts through that layered graph.

Takes plain inputs: the probe, each layer's membership matrix (C_layer x K, 0/1), the
flows and attributions computed from them, and the communities' labels; the report keeps
what it computed.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import networkx as nx
import numpy as np
import torch

from .concepts import ConceptScore, label_text

if TYPE_CHECKING:
    from ..engine import Probe

#: (lower layer, upper layer) -> K x K summed flow from each community's members in the
#: lower layer (rows) to each community's members in the upper one (columns).
LayerFlows = Mapping[tuple[str, str], np.ndarray]


@dataclass(frozen=True)
class Pathway:
    """A path of communities from the lowest layer of a partition up to a class.

    See docs/methods.md, section 3.6: each step is a community's part in one layer
    (its members there); consecutive steps are joined by the share of the upper
    part's incoming flow that comes from the lower part, and the last part is joined
    to the class by its share of the class logit's positive attribution.

    Parameters
    ----------
    target_class : str
        The class the path leads to.
    layers : tuple of str
        L layers, lowest first: the partition's layers.
    communities : tuple of int
        L community numbers, one per layer (the same number may recur when a community
        spans layers).
    labels : tuple of str or None
        L concept labels (``"concept=value"``) of those communities; None where the
        data has nothing to label with.
    flows : tuple of float
        L shares in [0, 1]: the L - 1 edges between consecutive layers, then the edge
        from the last community to the class.
    score : float
        The product of ``flows``: the share of the class's attribution traced back
        along this path (the scores of all paths into a class sum to at most 1).
    """

    target_class: str
    layers: tuple[str, ...]
    communities: tuple[int, ...]
    labels: tuple[str | None, ...]
    flows: tuple[float, ...]
    score: float

    def to_dict(self) -> dict[str, Any]:
        """The path as plain JSON-ready values.

        Returns
        -------
        dict
            ``target_class``, ``score`` and ``steps``: L dicts with ``layer``,
            ``community``, ``label`` and ``flow`` (the share of the edge leaving it
            upwards, the last one into the class).
        """
        return {
            "target_class": self.target_class,
            "score": self.score,
            "steps": [
                {"layer": layer, "community": c, "label": label, "flow": f}
                for layer, c, label, f in zip(self.layers, self.communities, self.labels, self.flows)
            ],
        }


def part_id(layer: str, community: int) -> str:
    """The :meth:`CommunityReport.flow_graph` node of a community's members in one layer.

    Parameters
    ----------
    layer : str
        The layer.
    community : int
        The community number.

    Returns
    -------
    str
        ``"<layer>:c<community>"``.
    """
    return f"{layer}:c{community}"


def layer_flows(
    probe: Probe, membership: Mapping[str, np.ndarray], method: str, images: int
) -> dict[tuple[str, str], np.ndarray]:
    """The summed flow edges between the communities' parts of every pair of consecutive layers.

    Parameters
    ----------
    probe : Probe
        The analysis whose neuron-level flow (:meth:`Probe.flow`) is summed.
    membership : mapping of str to np.ndarray
        The partition's layers, lowest first -> C_layer x K 0/1: which community each of
        the layer's neurons belongs to.
    method : {"gradient", "weights"}
        How the neuron-level flow edges are measured.
    images : int
        Probe images the gradient flow is averaged over.

    Returns
    -------
    dict
        (lower, upper) -> K x K: the flow from each community's members in ``lower``
        (rows) to each community's members in ``upper`` (columns).
    """
    return {
        (lower, upper): membership[lower].T
        @ probe.flow(lower, upper, method=method, images=images).T
        @ membership[upper]
        for lower, upper in itertools.pairwise(membership)
    }


def class_attribution(probe: Probe, layer: str, images: int) -> np.ndarray:
    """Each class's logit attributed to the neurons of ``layer``; kept in the probe's memo.

    Gradient x activation summed over all positions (signed; all tokens of a token layer), averaged over at most
    ``images`` probe images of the class: the first in the seeded order of
    :meth:`Probe.flow`'s sample. Each image back-propagates its own class's logit, so that
    one backward per batch serves every class.

    Parameters
    ----------
    probe : Probe
        The analysis of the model and its probe images.
    layer : str
        The layer attributed to.
    images : int
        At most this many images of each class.

    Returns
    -------
    np.ndarray
        K_classes x C float64; a row of NaN for a class without probe images.
    """
    return probe.memo(
        "class attribution", (layer, int(images)), lambda: _class_attribution(probe, layer, images)
    )


def _class_attribution(analysis: Probe, layer: str, images: int) -> np.ndarray:
    """:func:`class_attribution`, computed."""
    info = analysis.layer_info(layer)
    labels = analysis.labels
    num_classes = analysis.data.num_classes
    order = np.random.default_rng(0).permutation(len(labels))
    grouped = order[np.argsort(labels[order], kind="stable")]  # by class, the seeded order within each
    rank = np.arange(len(grouped)) - np.searchsorted(labels[grouped], labels[grouped])  # place within its class
    chosen = np.sort(grouped[rank < images])
    total = torch.zeros(num_classes, info.num_neurons, dtype=torch.float64, device=analysis.device)
    captured: dict[str, torch.Tensor] = {}

    def grab(out: torch.Tensor) -> torch.Tensor:
        captured["map"] = out.detach().requires_grad_(True)
        return captured["map"]

    for rows, x, _ in analysis.data.batches(min(analysis.batch_size, 64), indices=chosen):
        logits = analysis.runner.forward(x, {layer: grab}, grad=True)
        own = torch.as_tensor(labels[rows], device=logits.device)
        with torch.enable_grad():
            (grad,) = torch.autograd.grad(logits.gather(1, own[:, None]).sum(), captured["map"])
        # every position, a patch layer's CLS token included: the logit reads the class from it
        contrib = (grad * captured["map"].detach()).movedim(info.channel_axis, 1).flatten(2).sum(2)
        total.index_add_(0, own.to(total.device), contrib.double())
    counts = np.bincount(labels[chosen], minlength=num_classes)[:, None]
    with np.errstate(invalid="ignore"):
        return total.cpu().numpy() / counts


def pathway_shares(flows: LayerFlows, class_flow: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """The flows and the class attribution as the shares a pathway multiplies.

    Parameters
    ----------
    flows : mapping
        (lower, upper) -> K x K, as :func:`layer_flows` gives them, lowest pair first.
    class_flow : np.ndarray
        K_classes x K: each class's logit attributed to each community's members in the
        last layer (NaN rows for classes without images).

    Returns
    -------
    between : list of np.ndarray
        Per pair of consecutive layers, K x K: the flow normalised per upper part
        (columns); a part without incoming flow has a column of 0.
    into : np.ndarray
        K_classes x K: the positive class attribution normalised per class; a row of NaN
        for a class without images.
    """
    between = []
    for flow in flows.values():
        total = flow.sum(0, keepdims=True)
        between.append(np.divide(flow, total, out=np.zeros_like(flow), where=total > 0))
    positive = np.maximum(class_flow, 0)  # NaN rows stay NaN
    total = positive.sum(1, keepdims=True)
    into = np.divide(positive, total, out=np.zeros_like(positive), where=total > 0)
    into[np.isnan(total[:, 0])] = np.nan
    return between, into


def build_flow_graph(
    membership: Mapping[str, np.ndarray],
    flows: LayerFlows,
    class_flow: np.ndarray,
    labels: Sequence[ConceptScore | None],
    class_names: Sequence[str],
) -> nx.DiGraph:
    """The layered graph of community parts and classes that the pathways walk.

    Parameters
    ----------
    membership : mapping of str to np.ndarray
        The partition's layers, lowest first -> C_layer x K 0/1 membership.
    flows : mapping
        (lower, upper) -> K x K, as :func:`layer_flows` gives them.
    class_flow : np.ndarray
        K_classes x K: the attribution of each class's logit to each community's members
        in the last layer.
    labels : sequence of ConceptScore or None
        K: each community's label.
    class_names : sequence of str
        K_classes class names.

    Returns
    -------
    networkx.DiGraph
        As :meth:`CommunityReport.flow_graph` describes it.
    """
    layers = list(membership)
    between, into = pathway_shares(flows, class_flow)
    graph = nx.DiGraph()
    for depth, layer in enumerate(layers):
        sizes = np.asarray(membership[layer].sum(0)).ravel()
        for c in np.flatnonzero(sizes):
            label = labels[c]
            graph.add_node(
                part_id(layer, c), kind="community", layer=layer, depth=depth, community=int(c),
                size=int(sizes[c]), label=label_text(label) or "",
                label_auroc=0.0 if label is None else label.auroc,
            )
    for depth, (flow, share) in enumerate(zip(flows.values(), between)):
        for a, b in zip(*np.nonzero(flow)):
            graph.add_edge(
                part_id(layers[depth], a), part_id(layers[depth + 1], b),
                flow=float(flow[a, b]), share=float(share[a, b]),
            )
    for cls, name in enumerate(class_names):
        graph.add_node(f"class:{name}", kind="class", depth=len(layers), target_class=name)
        for b in np.flatnonzero(np.nan_to_num(class_flow[cls])):
            graph.add_edge(
                part_id(layers[-1], b), f"class:{name}",
                attribution=float(class_flow[cls, b]), share=float(into[cls, b]),
            )
    return graph


def strongest_pathways(
    membership: Mapping[str, np.ndarray],
    flows: LayerFlows,
    class_flow: np.ndarray,
    labels: Sequence[ConceptScore | None],
    class_names: Sequence[str],
    target: int,
    k: int,
) -> list[Pathway]:
    """The ``k`` strongest paths of community parts from the lowest layer into one class,
    found exactly by keeping the ``k`` best partial paths into every part, layer by layer.

    Parameters
    ----------
    membership : mapping of str to np.ndarray
        The partition's layers, lowest first -> C_layer x K 0/1 membership.
    flows : mapping
        (lower, upper) -> K x K, as :func:`layer_flows` gives them.
    class_flow : np.ndarray
        K_classes x K: the attribution of each class's logit to each community's members
        in the last layer.
    labels : sequence of ConceptScore or None
        K: each community's label.
    class_names : sequence of str
        K_classes class names.
    target : int
        The class's index.
    k : int
        How many paths (>= 1).

    Returns
    -------
    list of Pathway
        At most ``k`` paths with a positive score, strongest first.

    Raises
    ------
    ValueError
        For a class without probe images.
    """
    name = class_names[target]
    between, into = pathway_shares(flows, class_flow)
    if np.isnan(into[target]).any():
        raise ValueError(f"class {name!r} has no probe images, so nothing is known about what leads to it")
    layers = list(membership)
    lowest = np.asarray(membership[layers[0]].sum(0)).ravel() > 0
    scores = lowest.astype(float)[:, None]  # K x r: the best partial paths into each part
    steps = []  # per layer pair: K_upper x r' positions into the lower layer's K x r scores, and r
    for share in between:
        candidates = (scores[:, :, None] * share[:, None, :]).reshape(-1, share.shape[1])
        best = np.argsort(-candidates, axis=0, kind="stable")[:k]
        steps.append((best.T, scores.shape[1]))
        scores = np.take_along_axis(candidates, best, axis=0).T
    final = (scores * into[target][:, None]).ravel()
    texts = [label_text(label) for label in labels]
    paths = []
    for position in np.argsort(-final, kind="stable")[:k]:
        if final[position] <= 0:
            break
        part, rank = divmod(int(position), scores.shape[1])
        chain = [part]
        for best, width in reversed(steps):
            part, rank = divmod(int(best[part, rank]), width)
            chain.append(part)
        chain.reverse()
        shares = [float(s[a, b]) for s, a, b in zip(between, chain, chain[1:])] + [float(into[target, chain[-1]])]
        paths.append(
            Pathway(name, tuple(layers), tuple(chain), tuple(texts[c] for c in chain), tuple(shares),
                    float(np.prod(shares)))
        )
    return paths
