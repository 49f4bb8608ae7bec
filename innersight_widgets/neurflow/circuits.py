"""NeurFlow: core neurons of a class, their concepts, concept groups and the class circuit.

Top-down from the class logit: each core neuron's top-k crops, Integrated Gradients of
its spatially averaged activation with respect to the next lower layer (batched over
neurons, crops and steps), the top tau inputs kept; concepts are Ward clusters of a
neuron's top crops; groups are Ward clusters of a layer's concepts; the circuit is the
layered graph of groups. See docs/methods.md, section 4; ``build_circuit``'s docstring
gives the definitions used by default (NeurFlow's authors') and the options kept beside them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import networkx as nx
import numpy as np
import torch
import torch.nn.functional as F

from .._validation import Interval, Options, validate_params
from ..engine import SCORES, channel_replacer, integrated_gradients, pooled, write_html

if TYPE_CHECKING:
    from ..engine import Probe

EPSILON = 1e-2  # inside the log-barrier score

CONCEPT_SPACES = {
    "layer": "all neurons of the layer below, NeurFlow's authors' space",
    "core": "the neuron's own core inputs",
}
#: What ``error_range`` and each of ``granularities`` accept (their messages say more than
#: :func:`~innersight_widgets._validation.check`'s).
ERROR_RANGE = Interval(float, 0, 1, closed="neither", none=True)
GRANULARITY = Interval(float, 0, 1, closed="right")
# name -> (what it is, the most groups the silhouette search tries for n concepts of a layer)
GROUP_RANGES: dict[str, tuple[str, Callable[[int], int]]] = {
    "wide": ("2..min(n - 1, 100) groups for n concepts, NeurFlow's authors' range", lambda n: min(n - 1, 100)),
    "narrow": ("2..min(10, n / 2) groups for n concepts", lambda n: min(10, max(2, n // 2))),
}


@dataclass
class ConceptOfNeuron:
    """One concept of a core neuron: a cluster of its top crops.

    Parameters
    ----------
    layer : str
        The neuron's layer (``"logit"`` for the class output).
    neuron : int
        The neuron's index in its layer (the class index for the logit).
    index : int
        The concept's number among the neuron's concepts.
    crops : list of int
        Indices into the circuit's crops: the neuron's top crops in this cluster.
    central : list of int
        Those closest to the concept's mean (at most 6).
    weights : dict of int to float
        Core input (a neuron of the layer below) -> its mean IG score over the concept's
        crops, normalised by the sum of absolute values; empty for the lowest layer.
    """

    layer: str  # the neuron's layer ("logit" for the class output)
    neuron: int
    index: int
    crops: list[int]  # indices into the circuit's crops
    central: list[int]  # the crops closest to the concept's mean
    weights: dict[int, float]  # core input -> normalised mean IG over the concept's crops


@dataclass
class Group:
    """Concepts of one layer that look alike: a node of the circuit.

    Parameters
    ----------
    id : str
        ``"<level>/g<number>"``.
    layer : str
        The level of its concepts (a layer, or ``"logit"``).
    members : list of (int, int)
        Its concepts as (neuron, concept index).
    vector : list of float
        S: the mean representation of its concepts' crops in the concept space.
    space : list of int
        S: the neurons (of ``space_layer``) the vector is over.
    space_layer : str
        The layer whose pooled activations make the concept space.
    crops : list of int
        Representative crops (at most 12), indices into the circuit's crops.
    threshold : float
        The log-barrier score above which a crop is said to show this group.
    label : dict or None
        ``{"concept", "value", "share"}`` from the probe images; None without concepts.
    """

    id: str
    layer: str
    members: list[tuple[int, int]]  # (neuron, concept index)
    vector: list[float]  # mean representation in the layer's concept space
    space: list[int]  # the neurons (of the space layer) the vector is over
    space_layer: str
    crops: list[int]  # representative crops
    threshold: float  # log-barrier score above which a crop is said to show this group
    label: dict[str, Any] | None = None  # {"concept", "value", "share"} from the probe images


@dataclass(eq=False)
class Circuit:
    """The class circuit: core neurons per layer, their concepts, groups, and weighted edges.

    Made by :func:`build_circuit`, rebuilt by :meth:`from_dict`.

    Parameters
    ----------
    target_class : int
        The class index.
    class_name : str
        Its name.
    layers : list of str
        The layers, high to low.
    settings : dict
        The arguments of :func:`build_circuit` that shaped it (``tau``, ``top_k``,
        ``granularities``, ``ig_steps``, ``error_range``, ``n_groups``, ``max_images``,
        ``score``, ``concept_space``, ``group_range``).
    core : dict of str to list of int
        Layer -> its core neurons.
    scores : dict
        Level (``"logit"`` or a layer) -> core neuron -> {core input: IG score}.
    concepts : list of ConceptOfNeuron
        Every core neuron's concepts.
    groups : list of Group
        Every level's groups: the nodes.
    edges : list of (str, str, float)
        (lower group, upper group, weight).
    crops : np.ndarray
        m x 5 int64: source probe image, top, left, bottom, right of each crop.
    _analysis : Analysis, optional
        The analysis it was built with (needed to show crops and debug images).
    """

    target_class: int
    class_name: str
    layers: list[str]  # high to low
    settings: dict[str, Any]
    core: dict[str, list[int]]
    scores: dict[str, dict[int, dict[int, float]]]  # layer -> neuron -> {input: IG score, see settings["score"]}
    concepts: list[ConceptOfNeuron]
    groups: list[Group]
    edges: list[tuple[str, str, float]]  # (lower group, upper group, weight)
    crops: np.ndarray = field(repr=False)  # m x 5: source image, top, left, bottom, right
    _analysis: Probe | None = field(default=None, repr=False, compare=False)

    def __repr__(self) -> str:
        core = ", ".join(f"{layer}: {len(v)}" for layer, v in self.core.items())
        return (
            f"Circuit(class {self.class_name!r}, core neurons {{{core}}}, {len(self.concepts)} concepts, "
            f"{len(self.groups)} groups, {len(self.edges)} edges)"
        )

    def graph(self) -> nx.DiGraph:
        """The circuit as a graph.

        Returns
        -------
        networkx.DiGraph
            One node per group (``layer``, ``level`` (0 for the logit, rising downwards),
            ``size``, ``label`` as ``"concept=value"`` and its ``share``); edges lower ->
            upper group with ``weight``.
        """
        levels = {layer: i for i, layer in enumerate(["logit", *self.layers])}
        g = nx.DiGraph()
        for group in self.groups:
            label = group.label or {}
            g.add_node(
                group.id, layer=group.layer, level=levels[group.layer], size=len(group.members),
                label=f"{label.get('concept', '')}={label.get('value', '')}" if label else "",
                share=float(label.get("share", 0.0)) if label else 0.0,
            )
        for low, high, weight in self.edges:
            g.add_edge(low, high, weight=weight)
        return g

    def groups_of(self, layer: str) -> list[Group]:
        """The groups of one level.

        Parameters
        ----------
        layer : str
            A layer of the circuit, or ``"logit"``.

        Returns
        -------
        list of Group
            Its groups, in the circuit's order (empty for another name).
        """
        return [g for g in self.groups if g.layer == layer]

    def crop_image(self, crop: int) -> torch.Tensor:
        """The pixels of one crop (needs the analysis the circuit was built with).

        Parameters
        ----------
        crop : int
            A row of :attr:`crops`.

        Returns
        -------
        torch.Tensor
            C x h x w: the crop cut from its source image, at its own size.
        """
        analysis = self.analysis
        image, top, left, bottom, right = (int(v) for v in self.crops[crop])
        return analysis.images([image])[0, :, top:bottom, left:right]

    def debug_image(self, image: torch.Tensor | int, layer: str, threshold: float | None = None) -> list[dict[str, Any]]:
        """Which groups of ``layer`` one image triggers, and where.

        The image is cut into crops at the circuit's granularities; each crop is scored
        against each group's mean vector with the log-barrier score
        mean(log(max(a, 0) / |mean| + eps)).

        Parameters
        ----------
        image : torch.Tensor or int
            C x H x W pixels, or a probe image index.
        layer : str
            A level of the circuit with groups (a layer, or ``"logit"``).
        threshold : float, optional
            The score a crop needs to count; default each group's own threshold.

        Returns
        -------
        list of dict
            One per group of ``layer``, the best first: ``group`` (its id), ``label``,
            ``best`` (the highest score of any crop) and ``crops`` (``{"box": [top, left,
            bottom, right], "score"}`` of the crops above the threshold, strongest first).

        Raises
        ------
        ValueError
            If the circuit has no groups in ``layer``.
        """
        analysis = self.analysis
        groups = self.groups_of(layer)
        if not groups:
            raise ValueError(f"the circuit has no groups in {layer!r}; its layers are {', '.join(['logit', *self.layers])}")
        if isinstance(image, (int, np.integer)):
            image = analysis.images([int(image)])[0]
        crops, boxes = _crops(image[None], self.settings["granularities"])
        space_layer = groups[0].space_layer
        vectors = _pooled(analysis, crops, [space_layer])[space_layer]
        out = []
        for group in groups:
            score = barrier_score(vectors[:, group.space], np.asarray(group.vector))
            limit = group.threshold if threshold is None else threshold
            order = np.argsort(-score)
            hits = [{"box": boxes[i, 1:].tolist(), "score": float(score[i])} for i in order if score[i] >= limit]
            out.append({"group": group.id, "label": group.label, "best": float(score[order[0]]), "crops": hits})
        return sorted(out, key=lambda r: -r["best"])

    def crop_tensor(self, boxes: np.ndarray | None = None) -> torch.Tensor:
        """Crops of the probe images, resized back to the input size.

        Parameters
        ----------
        boxes : np.ndarray, optional
            m x 5 int: source probe image, top, left, bottom, right of each crop (as
            :attr:`crops`); default the circuit's own crops.

        Returns
        -------
        torch.Tensor
            m x C x H x W: every crop, bilinearly resized to the image size.
        """
        boxes = self.crops if boxes is None else np.asarray(boxes, dtype=np.int64).reshape(-1, 5)
        analysis = self.analysis
        h, w = analysis.data.image_shape[-2:]
        sources = np.unique(boxes[:, 0])
        images = dict(zip(sources.tolist(), analysis.images(sources)))
        pieces = [
            F.interpolate(images[i][None, :, t:b, l:r], size=(h, w), mode="bilinear", align_corners=False)
            if (b - t, r - l) != (h, w) else images[i][None]
            for i, t, l, b, r in boxes.tolist()
        ]
        return torch.cat(pieces)

    def crop_activations(self, boxes: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """The spatially averaged activations of crops at the layers the circuit's groups
        live in (their ``space_layer``): what its groups are read on, also for crops it was
        not built from, so that two circuits can be read on the same crops (``compare``).

        Parameters
        ----------
        boxes : np.ndarray, optional
            m x 5 crops as :meth:`crop_tensor` takes them; default the circuit's own.

        Returns
        -------
        dict of str to np.ndarray
            Space layer -> m x C: the activations of all its C neurons; a group's concept
            space is the columns ``group.space``.
        """
        layers = sorted({group.space_layer for group in self.groups})
        return _pooled(self.analysis, self.crop_tensor(boxes), layers)

    def fidelity(self, layer: str, draws: int = 5, seed: int = 0) -> dict[str, Any]:
        """The paper's check: for each core neuron of ``layer``, how much its top-k crop set
        changes (1 - overlap) when its core inputs in the next lower layer are zeroed,
        against zeroing as many random neurons of that layer (mean of ``draws``).

        Parameters
        ----------
        layer : str
            A layer of the circuit with a lower layer in it (not the last).
        draws : int
            Random neuron sets per core neuron.
        seed : int
            Seeds the random sets.

        Returns
        -------
        dict
            ``neurons`` (the layer's core neurons), ``core`` and ``random`` (one change
            in [0, 1] per neuron: zeroing its core inputs, and the mean over random sets
            of as many neurons), ``core_mean`` and ``random_mean``.

        Raises
        ------
        ValueError
            If ``layer`` has no lower layer in the circuit.
        """
        if layer not in self.layers[:-1]:
            raise ValueError(f"fidelity needs a layer with a lower layer in the circuit: one of {self.layers[:-1]}")
        analysis = self.analysis
        lower = analysis.layer_info(self.layers[self.layers.index(layer) + 1])
        upper = analysis.layer_info(layer)
        crops = self.crop_tensor()
        vectors = _pooled(analysis, crops, [layer])[layer]
        k = min(self.settings["top_k"], len(crops))
        rng = np.random.default_rng(seed)
        neurons, core, random_ = [], [], []
        for u, inputs in self.scores[layer].items():
            top = set(np.argsort(-vectors[:, u], kind="stable")[:k].tolist())
            masked = np.fromiter(inputs, dtype=np.int64)
            neurons.append(u)
            core.append(topk_change(analysis, crops, u, masked, lower, upper, top, k))
            random_.append(float(np.mean([
                topk_change(analysis, crops, u, rng.choice(lower.num_neurons, len(masked), replace=False), lower, upper, top, k)
                for _ in range(draws)
            ])))
        return {"neurons": neurons, "core": core, "random": random_,
                "core_mean": float(np.mean(core)), "random_mean": float(np.mean(random_))}

    def to_dict(self) -> dict[str, Any]:
        """The circuit as plain JSON-ready values.

        Returns
        -------
        dict
            One entry per field but the analysis; integer keys of ``scores`` and of
            concept weights become strings, ``crops`` a list of m lists of 5.
        """
        return {
            "target_class": self.target_class,
            "class_name": self.class_name,
            "layers": self.layers,
            "settings": self.settings,
            "core": self.core,
            "scores": {l: {str(u): {str(v): s for v, s in inputs.items()} for u, inputs in n.items()} for l, n in self.scores.items()},
            "concepts": [asdict(c) | {"weights": {str(k): v for k, v in c.weights.items()}} for c in self.concepts],
            "groups": [asdict(g) for g in self.groups],
            "edges": [list(e) for e in self.edges],
            "crops": self.crops.tolist(),
        }

    def to_json(self) -> str:
        """The circuit as JSON.

        Returns
        -------
        str
            :meth:`to_dict` as a JSON document.
        """
        return json.dumps(self.to_dict())

    def to_html(self, path: str | Path, visualise: bool = False, feature_options: dict[str, Any] | None = None) -> Path:
        """Write the circuit as a self-contained HTML page (hover and click its groups offline).

        Parameters
        ----------
        path : str or Path
            The HTML file to write.
        visualise : bool
            Also show what each group looks for (its feature visualisation) under its crops.
        feature_options : dict, optional
            With ``visualise``: ``visualise``'s other arguments (``mean``, ``std``, ``size``, ...).

        Returns
        -------
        Path
            The file written (see :func:`innersight_widgets.reports.circuit_html`).
        """
        return write_html(self, path, visualise=visualise, feature_options=feature_options)

    @classmethod
    def from_dict(cls, d: dict[str, Any], analysis: Probe | None = None) -> Circuit:
        """Rebuild a circuit from :meth:`to_dict` output (pass the analysis to debug images).

        Parameters
        ----------
        d : dict
            What :meth:`to_dict` gave.
        analysis : Analysis, optional
            The analysis it was built with; needed for crops, debugging and fidelity.

        Returns
        -------
        Circuit
            The same circuit.
        """
        return cls(
            int(d["target_class"]),
            d["class_name"],
            list(d["layers"]),
            dict(d["settings"]) | {"granularities": tuple(d["settings"]["granularities"])},
            {l: [int(u) for u in us] for l, us in d["core"].items()},
            {l: {int(u): {int(v): float(s) for v, s in inp.items()} for u, inp in n.items()} for l, n in d["scores"].items()},
            [ConceptOfNeuron(**(c | {"weights": {int(k): float(v) for k, v in c["weights"].items()}})) for c in d["concepts"]],
            [Group(**(g | {"members": [tuple(m) for m in g["members"]]})) for g in d["groups"]],
            [(a, b, float(w)) for a, b, w in d["edges"]],
            np.asarray(d["crops"], dtype=np.int64).reshape(-1, 5),
            analysis,
        )

    @classmethod
    def from_json(cls, text: str, analysis: Probe | None = None) -> Circuit:
        """Rebuild a circuit from :meth:`to_json` output.

        Parameters
        ----------
        text : str
            What :meth:`to_json` gave.
        analysis : Analysis, optional
            As for :meth:`from_dict`.

        Returns
        -------
        Circuit
            The same circuit.
        """
        return cls.from_dict(json.loads(text), analysis)

    @property
    def analysis(self) -> Probe:
        """The analysis the circuit was built with (needed to show crops and debug images)."""
        if self._analysis is None:
            raise ValueError("this circuit was loaded without its analysis; use Circuit.from_dict(d, analysis)")
        return self._analysis

    @property
    def has_analysis(self) -> bool:
        """Whether the circuit holds its analysis, so that its crops and images can be shown."""
        return self._analysis is not None


def barrier_score(vectors: np.ndarray | torch.Tensor, mean: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    """Log-barrier similarity of each row of ``vectors`` to a group's mean vector:
    mean(log(max(a, 0) / |mean| + eps)).

    Parameters
    ----------
    vectors : np.ndarray or torch.Tensor
        ... x S: pooled activations over a group's concept space. A tensor gives a
        tensor, differentiable (feature visualisation climbs it).
    mean : np.ndarray or torch.Tensor
        S: the group's mean vector.

    Returns
    -------
    np.ndarray or torch.Tensor
        ...: one score per row, of the kind ``vectors`` is.
    """
    tensor = isinstance(vectors, torch.Tensor)
    a = vectors if tensor else torch.from_numpy(np.ascontiguousarray(vectors, dtype=np.result_type(vectors, mean)))
    centre = torch.as_tensor(mean, dtype=a.dtype, device=a.device)
    score = torch.log(a.clamp(min=0) / (centre.abs() + 1e-8) + EPSILON).mean(-1)
    return score if tensor else score.numpy()


class _OneOf(Options):
    """Options said as "one of 'a', 'b'" whatever their number (a message names them all)."""

    def describe(self) -> str:
        """``one of 'a', 'b'``."""
        return "one of " + ", ".join(repr(v) for v in self.values)


def _one_of(options: dict[str, str]) -> Options:
    """The options (name -> what it means) declared with every option's meaning in the message."""
    return _OneOf(*options, meaning="; ".join(f"{option!r}: {meaning}" for option, meaning in options.items()))


@validate_params(
    {
        "top_k": Interval(int, 3),
        "ig_steps": Interval(int, 1, meaning="integrated-gradient steps"),
        "n_groups": Interval(int, 1, none=True, meaning="groups per layer; None chooses the number by silhouette"),
        "max_images": Interval(int, 1, meaning="images of the class used as concept data"),
        "label_images": Interval(int, 1, meaning="probe images that name a group"),
        "score": _one_of({name: meaning for name, (meaning, _) in SCORES.items()}),
        "concept_space": _one_of(CONCEPT_SPACES),
        "group_range": _one_of({name: meaning for name, (meaning, _) in GROUP_RANGES.items()}),
    }
)
def build_circuit(
    analysis: Probe,
    target_class: int | str,
    layers: list[str],
    tau: int = 16,
    top_k: int = 50,
    granularities: tuple[float, ...] = (1.0, 0.5, 0.25),
    ig_steps: int = 32,
    error_range: float | None = None,
    n_groups: int | None = None,
    max_images: int = 48,
    label_images: int = 20,
    score: str = "abs_mean",
    concept_space: str = "layer",
    group_range: str = "wide",
) -> Circuit:
    """NeurFlow's circuit of ``target_class`` through ``layers`` (given high to low).

    Concept data are up to ``max_images`` images of the class and their crops. From the
    class logit down, each core neuron u of a layer (the logit at the top) takes its
    ``top_k`` most activating crops; Integrated Gradients (zero baseline, ``ig_steps``
    steps) of u's spatially averaged activation with respect to the next lower layer gives
    one map per crop and lower neuron v, reduced to a score by ``score`` and averaged over
    the crops; u's ``tau`` best-scoring inputs are its core inputs, and their union is the
    core set of the lower layer. A core neuron's concepts are Ward clusters (2..5, by
    silhouette) of its top crops' pooled activations in ``concept_space``; each concept's
    edge weight to a core input v is v's score averaged over the concept's crops,
    normalised by the sum of absolute weights. A layer's concepts are grouped by Ward
    clustering of their mean vectors (``n_groups`` groups, or a number by silhouette over
    ``group_range``); edges between groups sum their members' weights.

    The defaults are the definitions of NeurFlow's authors; the other options are the
    definitions this package used before and are kept for comparison.

    Parameters
    ----------
    analysis : Analysis
        The analysis of the model and its probe images.
    target_class : int or str
        The class, by index or name.
    layers : list of str
        Layers with a 2-D map (B x C x H x W), high to low, each computed from the next.
    tau : int, default 16
        Core inputs kept per core neuron, in 1..C of every layer.
    top_k : int, default 50
        Top-activating crops per core neuron (>= 3; fewer if there are fewer crops).
    granularities : tuple of float, default (1.0, 0.5, 0.25)
        Crop sides as fractions of the image side, each in (0, 1]; the stride is half a crop.
    ig_steps : int, default 32
        Integrated-gradient steps (midpoints of [0, 1]).
    error_range : float in (0, 1) or None, default None
        The paper's rule: a neuron keeps the fewest of its ranked inputs whose masking
        changes its top-k crop set by at least (1 - error_range) of the change that masking
        all tau of them makes. None keeps tau inputs.
    n_groups : int >= 1 or None, default None
        Groups per layer; None chooses the number by silhouette.
    max_images : int >= 1, default 48
        Images of the class used as concept data, spread evenly over the class's images.
    label_images : int >= 1, default 20
        Probe images whose annotations name a group (the ones pointing most its way).
    score : {"abs_mean", "mean_abs"}, default "abs_mean"
        How a crop's IG map (H x W) of a lower neuron becomes one number: "abs_mean" is the
        absolute value of its spatial mean (NeurFlow's authors: an input whose positive and
        negative contributions cancel does not count); "mean_abs" is the spatial mean of its
        absolute value.
    concept_space : {"layer", "core"}, default "layer"
        The pooled activations a neuron's top crops are clustered in, and its layer's
        groups: "layer", all C neurons of the layer below (NeurFlow's authors); "core",
        the neuron's own core inputs, with groups over the lower layer's core set. The
        lowest layer's neurons use their own layer (all neurons, or its core set).
    group_range : {"wide", "narrow"}, default "wide"
        The numbers of groups the silhouette search tries for a layer with n concepts:
        "wide", 2..min(n - 1, 100) (NeurFlow's authors); "narrow", 2..min(10, n / 2).

    Returns
    -------
    Circuit
        ``core[layer]``: the core neurons of each layer; ``scores[level][u]``: u's core
        inputs with their scores (levels "logit" and every layer but the lowest);
        ``concepts``, ``groups`` (each with a mean vector over ``space``, representative
        crops, a debugging threshold and a label), ``edges`` (lower group, upper group,
        weight) and ``crops`` (m x 5: source image, top, left, bottom, right).
    """
    c = analysis.class_index(target_class)
    layers = _check_layers(analysis, layers)
    infos = {layer: analysis.layer_info(layer) for layer in layers}
    for layer, info in infos.items():
        if not Interval(int, 1, info.num_neurons).accepts(tau):
            raise ValueError(f"tau must be in 1..{info.num_neurons} (the neurons of {layer!r}), got {tau!r}")
    if not ERROR_RANGE.accepts(error_range):
        raise ValueError(f"error_range must lie in (0, 1) or be None, got {error_range!r}")
    if not granularities or not all(GRANULARITY.accepts(g) for g in granularities):
        raise ValueError(f"granularities must be fractions in (0, 1], got {granularities!r}")

    members = np.flatnonzero(analysis.labels == c)
    if members.size == 0:
        raise ValueError(f"no probe image has class {analysis.data.class_names[c]!r}; add some to the data")
    chosen = members[np.linspace(0, members.size - 1, min(max_images, members.size)).round().astype(int)]
    crops, boxes = _crops(analysis.images(chosen), granularities)
    boxes[:, 0] = chosen[boxes[:, 0]]
    crop_vectors = _pooled(analysis, crops, layers, logits=True)
    logits = crop_vectors.pop("logit")[:, c]
    k = min(top_k, len(crops))

    core: dict[str, list[int]] = {}
    scores: dict[str, dict[int, dict[int, float]]] = {}
    concepts: list[ConceptOfNeuron] = []
    targets, upper = [c], None  # the class logit is the first target
    upper_name = "logit"
    for layer in layers:
        lower = infos[layer]
        activity = logits[:, None] if upper is None else crop_vectors[upper.name]
        top = {u: np.argsort(-(activity[:, 0] if upper is None else activity[:, u]), kind="stable")[:k] for u in targets}
        rows = np.concatenate([top[u] for u in targets])
        row_targets = np.repeat(targets, k)
        ig = integrated_gradients(analysis.runner, crops[rows], row_targets, lower, upper, ig_steps, score).reshape(len(targets), k, -1)
        layer_scores, chosen_inputs = {}, {}
        for t, u in enumerate(targets):
            mean = ig[t].mean(0)
            ranked = np.argsort(-mean, kind="stable")[:tau]
            if error_range is not None:
                ranked = _error_range_cut(analysis, crops, top[u], u, ranked, lower, upper, error_range)
            chosen_inputs[u] = ranked
            layer_scores[u] = {int(v): float(mean[v]) for v in ranked}
        scores[upper_name] = layer_scores
        lower_core = sorted({int(v) for ranked in chosen_inputs.values() for v in ranked})
        core[layer] = lower_core
        for t, u in enumerate(targets):
            inputs = chosen_inputs[u]
            space = np.arange(lower.num_neurons) if concept_space == "layer" else inputs
            concepts += _concepts_of(upper_name, u, top[u], crop_vectors[layer][:, space], ig[t][:, inputs], inputs)
        targets, upper, upper_name = lower_core, lower, layer
    # the lowest layer has no layer below: its concepts live in its own activations
    lowest = layers[-1]
    space_neurons = {
        layer: np.arange(infos[layer].num_neurons) if concept_space == "layer" else np.asarray(core[layer]) for layer in layers
    }
    for u in core[lowest]:
        idx = np.argsort(-crop_vectors[lowest][:, u], kind="stable")[:k]
        concepts += _concepts_of(lowest, u, idx, crop_vectors[lowest][:, space_neurons[lowest]])

    levels = ["logit", *layers]
    space_of = {level: layers[i] if i < len(layers) else layers[-1] for i, level in enumerate(levels)}
    probe = _probe_vectors(analysis, layers)
    most_groups = GROUP_RANGES[group_range][1]
    groups = []
    for level in levels:
        level_concepts = [cc for cc in concepts if cc.layer == level]
        space_layer = space_of[level]
        groups += _group(level, level_concepts, crop_vectors[space_layer], space_neurons[space_layer], space_layer,
                         n_groups, most_groups, analysis, probe, label_images)
    edges = _edges(levels, concepts, groups)
    settings = {
        "tau": int(tau), "top_k": int(top_k), "granularities": tuple(granularities), "ig_steps": int(ig_steps),
        "error_range": error_range, "n_groups": n_groups, "max_images": int(max_images),
        "score": score, "concept_space": concept_space, "group_range": group_range,
    }
    return Circuit(c, analysis.data.class_names[c], layers, settings, core, scores, concepts, groups, edges, boxes, analysis)


# ------------------------------------------------------------------ pieces
def _check_layers(analysis: Probe, layers: list[str]) -> list[str]:
    if isinstance(layers, str) or not layers:
        raise ValueError("layers must be a non-empty list of layer names, high to low")
    order = {name: i for i, name in enumerate(info.name for info in analysis.available_layers())}
    for layer in layers:
        analysis.layer_info(layer)  # a wrong name lists the close matches
        if len(analysis.layer_info(layer).spatial_shape) != 2:
            raise ValueError(f"layer {layer!r} has no 2-D map; NeurFlow crops need conv layers")
    positions = [order[layer] for layer in layers]
    if any(a <= b for a, b in zip(positions, positions[1:])):
        ordered = sorted(layers, key=lambda l: -order[l])
        raise ValueError(f"layers must go from high to low (the last one closest to the input), e.g. {ordered}")
    example = analysis.images([0])
    for upper, lower in zip([None, *layers], layers):
        if not analysis.runner.feeds(example, lower, upper):
            above = "the class logit" if upper is None else f"{upper!r}"
            raise ValueError(
                f"layer {lower!r} does not feed {above}: no path through the network leads from its output "
                f"to {'the logits' if upper is None else 'that layer'}, so there is nothing to attribute; "
                "give layers where each one is computed from the next (e.g. block outputs such as 'layer3', 'layer2')"
            )
    return list(layers)


def _crops(images: torch.Tensor, granularities: tuple[float, ...]) -> tuple[torch.Tensor, np.ndarray]:
    """Every crop of every image at each granularity (side = g x image side, stride = half
    a side), resized back to the image size; boxes are (image, top, left, bottom, right)."""
    n, _, h, w = images.shape
    pieces, boxes = [], []
    for g in granularities:
        ch, cw = max(1, round(h * g)), max(1, round(w * g))
        sh, sw = max(1, ch // 2), max(1, cw // 2)
        tops = sorted({*range(0, h - ch + 1, sh), h - ch})
        lefts = sorted({*range(0, w - cw + 1, sw), w - cw})
        for top in tops:
            for left in lefts:
                piece = images[:, :, top : top + ch, left : left + cw]
                if (ch, cw) != (h, w):
                    piece = F.interpolate(piece, size=(h, w), mode="bilinear", align_corners=False)
                pieces.append(piece)
                boxes.append(np.stack([np.arange(n), np.full(n, top), np.full(n, left), np.full(n, top + ch), np.full(n, left + cw)], 1))
    crops = torch.stack(pieces, 1).reshape(-1, *images.shape[1:])
    box = np.stack(boxes, 1).reshape(-1, 5).astype(np.int64)
    return crops, box


def _pooled(analysis: Probe, images: torch.Tensor | Iterable[torch.Tensor], layers: list[str], logits: bool = False) -> dict[str, np.ndarray]:
    """Spatially averaged activations of several layers for a stack of images (or an
    iterable of batches), in one pass that stops once the last of them has run (with
    ``logits``, it runs to the end and the model's outputs come under the key "logit")."""
    infos = [analysis.layer_info(layer) for layer in layers]
    highest = max(layers, key=[info.name for info in analysis.available_layers()].index)
    out: dict[str, list[torch.Tensor]] = {layer: [] for layer in [*layers, *(["logit"] if logits else [])]}
    batches = images.split(analysis.batch_size) if isinstance(images, torch.Tensor) else images

    def grab(info: Any) -> Any:
        def hook(o: torch.Tensor) -> None:
            out[info.name].append(pooled(o, info).cpu())

        return hook

    hooks = {info.name: grab(info) for info in infos}
    for x in batches:
        result = analysis.runner.forward(x, hooks, stop_after=None if logits else highest)
        if logits:
            out["logit"].append(result.float().cpu())
    return {layer: torch.cat(parts).numpy() for layer, parts in out.items()}


def _probe_vectors(analysis: Probe, layers: list[str]) -> dict[str, np.ndarray]:
    """Mean-pooled activations of the probe images: the analysis's own profiles where it has
    them all, else one pass that stops after the highest layer."""
    if analysis.pooling == "mean" and set(layers) <= set(analysis.layers):
        return {layer: analysis.profiles(layer) for layer in layers}
    return _pooled(analysis, (x for _, x, _ in analysis.data.batches(analysis.batch_size)), layers)


def _silhouette(distances: np.ndarray, labels: np.ndarray) -> float:
    """Mean silhouette from a square distance matrix (as scikit-learn's, whose per-call
    checks cost more than this whole computation on the few dozen points clustered here)."""
    clusters = np.unique(labels)
    member = labels[:, None] == clusters[None, :]
    sizes = member.sum(0)
    mean_to = distances @ member / np.maximum(sizes, 1)  # mean distance to each cluster, self included
    own = member.argmax(1)
    size_own = sizes[own]
    a = mean_to[np.arange(len(labels)), own] * size_own / np.maximum(size_own - 1, 1)
    mean_to[np.arange(len(labels)), own] = np.inf
    b = mean_to.min(1)
    s = np.where(size_own > 1, (b - a) / np.maximum(np.maximum(a, b), 1e-300), 0.0)
    return float(s.mean())


def _ward(vectors: np.ndarray, n: int | None, low: int = 2, high: int = 5) -> np.ndarray:
    """Ward clusters (0-based labels); their number by silhouette in low..high unless given.
    The Ward tree is built once and cut at each candidate number."""
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import pdist, squareform

    m = len(vectors)
    if m < 2 or (n is None and m < 3):
        return np.arange(m)
    tree = linkage(vectors.astype(np.float64), method="ward")
    if n is not None:
        return fcluster(tree, t=min(n, m), criterion="maxclust") - 1
    distances = squareform(pdist(vectors.astype(np.float64)))
    best, best_labels = -2.0, np.zeros(m, dtype=int)
    for k in range(low, min(high, m - 1) + 1):
        labels = fcluster(tree, t=k, criterion="maxclust") - 1
        if len(set(labels)) < 2:
            continue
        score = _silhouette(distances, labels)
        if score > best:
            best, best_labels = score, labels
    return best_labels


def _concepts_of(layer: str, neuron: int, crops: np.ndarray, vectors: np.ndarray, ig: np.ndarray | None = None,
                 inputs: np.ndarray | None = None) -> list[ConceptOfNeuron]:
    """Ward clusters (2..5 by silhouette) of one neuron's top ``crops`` (indices into the rows
    of ``vectors``, crops x concept space); with ``ig`` (top crops x core inputs) each
    concept weighs the neuron's core ``inputs``."""
    own = vectors[crops]
    labels = _ward(own, None)
    out = []
    for index in range(int(labels.max()) + 1):
        members = np.flatnonzero(labels == index)
        centre = own[members].mean(0)
        central = members[np.argsort(((own[members] - centre) ** 2).sum(1))[:6]]
        weights = {}
        if ig is not None:
            mean_ig = ig[members].mean(0)
            total = np.abs(mean_ig).sum() or 1.0
            weights = {int(v): float(s / total) for v, s in zip(inputs, mean_ig)}
        out.append(ConceptOfNeuron(layer, int(neuron), index, crops[members].tolist(), crops[central].tolist(), weights))
    return out


def _group(level: str, concepts: list[ConceptOfNeuron], crop_vectors: np.ndarray, space: np.ndarray, space_layer: str,
           n_groups: int | None, most_groups: Callable[[int], int], analysis: Probe, probe: dict[str, np.ndarray],
           label_images: int) -> list[Group]:
    """Ward clusters of one level's concepts by their mean vectors over ``space`` (neurons of
    ``space_layer``): ``n_groups`` of them, or 2..most_groups(len(concepts)) by silhouette."""
    if not concepts:
        return []
    vectors = np.stack([crop_vectors[c.crops][:, space].mean(0) for c in concepts])
    labels = _ward(vectors, n_groups, 2, most_groups(len(concepts)))
    groups = []
    for g in range(int(labels.max()) + 1):
        members = [concepts[i] for i in np.flatnonzero(labels == g)]
        crops = sorted({crop for m in members for crop in m.crops})
        own = crop_vectors[crops][:, space]
        mean = own.mean(0)
        own_scores = barrier_score(own, mean)
        representative = [crops[i] for i in np.argsort(-own_scores)[:12]]
        group = Group(
            f"{level}/g{g}", level, [(m.neuron, m.index) for m in members], mean.tolist(), space.tolist(), space_layer,
            representative, float(np.quantile(own_scores, 0.1)),
        )
        group.label = _label(analysis, probe[space_layer][:, space], mean, label_images)
        groups.append(group)
    return groups


def _label(analysis: Probe, probe: np.ndarray, mean: np.ndarray, count: int) -> dict[str, Any] | None:
    """The annotated concept value most common among the probe images whose activation
    pattern (z-scored per neuron over the probe set, so that sheer size does not win) points
    most the way of the group's mean vector."""
    if not analysis.data.concepts:
        return None
    centre, spread = probe.mean(0), probe.std(0) + 1e-8
    z = (probe - centre) / spread
    direction = (mean - centre) / spread
    cosine = z @ direction / (np.linalg.norm(z, axis=1) * np.linalg.norm(direction) + 1e-12)
    top = np.argsort(-cosine, kind="stable")[:count]
    best = None
    for name, concept in analysis.data.concepts.items():
        values, counts = np.unique(concept.values[top], return_counts=True)
        share = counts.max() / len(top)
        if best is None or share > best["share"]:
            best = {"concept": name, "value": concept.names[int(values[counts.argmax()])], "share": float(share)}
    return best


def _edges(levels: list[str], concepts: list[ConceptOfNeuron], groups: list[Group]) -> list[tuple[str, str, float]]:
    """Group-to-group weights: a concept's weight to an input neuron, shared among that
    neuron's concepts, summed over the members of both groups."""
    group_of = {(g.layer, n, k): g.id for g in groups for n, k in g.members}
    concept_count: dict[tuple[str, int], int] = {}
    for c in concepts:
        concept_count[(c.layer, c.neuron)] = concept_count.get((c.layer, c.neuron), 0) + 1
    totals: dict[tuple[str, str], float] = {}
    for upper, lower in zip(levels, levels[1:]):
        lower_concepts = [c for c in concepts if c.layer == lower]
        for c in (c for c in concepts if c.layer == upper):
            for v, w in c.weights.items():
                for lc in (x for x in lower_concepts if x.neuron == v):
                    key = (group_of[(lower, v, lc.index)], group_of[(upper, c.neuron, c.index)])
                    totals[key] = totals.get(key, 0.0) + w / concept_count[(lower, v)]
    return [(a, b, float(w)) for (a, b), w in sorted(totals.items())]


def _error_range_cut(analysis: Probe, crops: torch.Tensor, top: np.ndarray, u: int, ranked: np.ndarray, lower: Any,
                     upper: Any, error_range: float) -> np.ndarray:
    """Fewest leading inputs whose masking changes u's top-k crops by >= (1 - error_range) of the full change."""
    k = len(top)
    changes = [topk_change(analysis, crops, u, ranked[:m], lower, upper, set(top.tolist()), k) for m in range(1, len(ranked) + 1)]
    largest = max(changes)
    for m, change in enumerate(changes, start=1):
        if change >= (1 - error_range) * largest:
            return ranked[:m]
    return ranked


def topk_change(analysis: Probe, crops: torch.Tensor, u: int, masked: np.ndarray, lower: Any, upper: Any,
                top: set[int], k: int) -> float:
    """How much zeroing some lower neurons changes a neuron's top-k crops.

    Parameters
    ----------
    analysis : Analysis
        The analysis of the model.
    crops : torch.Tensor
        m x C x H x W: the crops ranked.
    u : int
        A neuron of ``upper``, or the class index when ``upper`` is None.
    masked : np.ndarray
        Indices of the ``lower`` neurons zeroed.
    lower : LayerInfo
        The layer whose neurons are zeroed.
    upper : LayerInfo or None
        u's layer; None for the logits.
    top : set of int
        u's top-k crops before the zeroing.
    k : int
        How many top crops are compared.

    Returns
    -------
    float
        1 - the share of ``top`` still among u's top-k crops after the zeroing.
    """
    mask = torch.zeros(lower.num_neurons, dtype=torch.bool, device=analysis.device)
    mask[torch.as_tensor(np.asarray(masked, dtype=np.int64), device=analysis.device)] = True
    hooks = {lower.name: channel_replacer(lower, mask)}
    values = []
    for x in crops.split(analysis.batch_size):
        o = analysis.runner.forward(x, hooks, stop_after=None if upper is None else upper.name)
        values.append((o.float() if upper is None else pooled(o, upper))[:, u].cpu())
    after = torch.cat(values).numpy()
    new_top = set(np.argsort(-after, kind="stable")[:k].tolist())
    return 1.0 - len(new_top & top) / k
