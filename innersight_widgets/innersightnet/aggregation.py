"""InnerSightNet aggregation: partition neurons into communities, with live-tunable parameters.

The expensive part of each method is done once per set of layers and kept: the
correlation matrix and neighbour order (all methods), the dendrogram (agglomerative),
the spectral embedding (spectral). A new slider value is then a cheap step: a cut of
the dendrogram, one Louvain/Leiden run on a cached graph, or one k-means.
"""

from __future__ import annotations

import random
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .._validation import Interval, Options, check, validate_params
from ..engine import Cancelled
from .neurons import MAX_NEIGHBOURS, NeuronSet, build_neuron_set

if TYPE_CHECKING:
    from ..engine import Probe

_GRAPH_PARAMS = {"k": 10, "min_corr": 0.0}
DEFAULTS: dict[str, dict[str, Any]] = {
    "louvain": {"resolution": 1.0, **_GRAPH_PARAMS},
    "leiden": {"resolution": 1.0, **_GRAPH_PARAMS},
    "agglomerative": {"threshold": 0.7, "linkage": "average", **_GRAPH_PARAMS},
    "spectral": {"n_communities": 8, **_GRAPH_PARAMS},
}
METHODS = tuple(DEFAULTS)
LINKAGES = ("average", "complete", "single")
_MAX_SPECTRAL = 64
#: The aggregation methods, declared once: :func:`check_params` refuses any other, and the
#: widgets' method drop-down offers these, in this order.
METHOD = Options(*METHODS, meaning="the aggregation method")
#: The methods' parameters (the names in :data:`DEFAULTS`), declared once: :func:`check_params`
#: checks them and a widget's sliders stay inside them (the k slider ends at ``k``'s high).
PARAMETERS = {
    "k": Interval(int, 1, MAX_NEIGHBOURS),
    "min_corr": Interval(float, -1.0, 0.999),
    "resolution": Interval(float, 1e-3, 100.0),
    "threshold": Interval(float, 1e-6, 2.0),
    "linkage": Options(*LINKAGES),
    "n_communities": Interval(int, 2, _MAX_SPECTRAL),
}
#: The seed of a partition's random choices.
SEED = Interval(int, 0, meaning="the seed of the method's random choices")
#: Re-runs a partition's stability is measured over; CommunityExplorer's control ends at its high.
STABILITY_RUNS = Interval(int, 0, 50, meaning="re-runs the stability figure compares the partition with; 0: not measured")
#: The most living neurons a method takes. Agglomerative clustering holds every pair's
#: distance (16 bytes a pair with SciPy's copies: 1.1 GB and 5 s at 8,192 neurons of a
#: ResNet-50); the spectral embedding's 64 eigenvectors took 6.6 s at 8,192 neurons and
#: had not finished after minutes at 26,560 (stopped).
LARGEST = {"agglomerative": 10_000, "spectral": 12_000}
_WHY_LARGEST = {
    "agglomerative": "needs every pair's distance (about {gib:.1f} GiB) and minutes",
    "spectral": "needs 64 eigenvectors of the neighbour graph, minutes at this size",
}
#: Above this many living neurons Louvain and Leiden cluster micro-communities (see
#: ``Aggregator._modularity_method``): at 8,192 neurons of a ResNet-50 a step takes ~1 ms
#: instead of ~170 ms, at a modularity within 1.2% of the full graph's.
COARSE_ABOVE = 4096
#: The micro-communities are Louvain's first level at this resolution (the slider's top):
#: finer than the communities at any resolution up to it.
COARSE_RESOLUTION = 5.0
# igraph draws from one global random source; seeding it is made atomic with this lock.
_IGRAPH_LOCK = threading.Lock()
#: Below this stability (mean adjusted Rand index against the re-runs) a partition is said to
#: be unreliable: its re-runs agree with it less than halfway from chance (0) to identity (1).
#: Louvain measured 0.95-1.0 on the shipped models' trained layers and 1.0 on planted groups,
#: 0.11-0.31 on profiles of pure noise of 150-300 neurons, 0.17 on EfficientNet-Lite0's
#: ``_conv_head`` over 650 photos (docs/methods.md, section 3.3).
MIN_STABILITY = 0.5
# How each method makes fewer, larger communities: what an unstable partition should try.
_COARSER = {
    "louvain": "a lower resolution (now {resolution:g})",
    "leiden": "a lower resolution (now {resolution:g})",
    "agglomerative": "a higher threshold (now {threshold:g})",
    "spectral": "fewer communities (n_communities, now {n_communities})",
}


class UnreliablePartitionWarning(UserWarning):
    """A partition that should not be read as it is: its re-runs disagree with it (stability
    below :data:`MIN_STABILITY`), or it was made from no more probe images than living
    neurons. The message says which, and what to do; :func:`reliability_caveats` gives the
    same messages without warning."""


@dataclass(frozen=True, eq=False)
class Communities:
    """A partition of neurons into communities.

    ``labels[i]`` is the community of ``neurons[i]``, numbered by falling size from 0;
    dead (constant) neurons get -1 and belong to no community. Made by
    :meth:`Analysis.communities`; see docs/methods.md, section 3.

    Parameters
    ----------
    method : {"louvain", "leiden", "agglomerative", "spectral"}
        The aggregation method that made the partition.
    params : dict
        Its full parameter set, defaults filled in (``k``, ``min_corr`` and the
        method's own: ``resolution``, ``threshold`` and ``linkage``, or ``n_communities``).
    seed : int
        The seed of the method's random choices.
    neurons : list of (str, int)
        M neurons as ``(layer, index)``, in layer order.
    labels : np.ndarray
        M: the community of each neuron, -1 for a dead one.
    modularity : float
        Newman modularity (resolution 1) of the partition on the similarity graph with
        ``params["k"]`` and ``params["min_corr"]``.
    stability : float or None
        Mean adjusted Rand index against re-runs (other seeds, or bootstrap resamples of
        the images for the agglomerative method); None when not measured.
    """

    method: str
    params: dict[str, Any]
    seed: int
    neurons: list[tuple[str, int]] = field(repr=False)
    labels: np.ndarray = field(repr=False)
    modularity: float
    stability: float | None

    @property
    def layers(self) -> list[str]:
        """The layers of the partitioned neurons, in layer order."""
        return list(dict.fromkeys(layer for layer, _ in self.neurons))

    @property
    def num_communities(self) -> int:
        """K: how many communities there are (dead neurons form none)."""
        return int(self.labels.max()) + 1 if (self.labels >= 0).any() else 0

    @property
    def sizes(self) -> np.ndarray:
        """K: the number of neurons in each community, largest first."""
        return np.bincount(self.labels[self.labels >= 0], minlength=self.num_communities)

    @property
    def dead(self) -> list[tuple[str, int]]:
        """Neurons constant over the probe images, as ``(layer, index)``: reported, not
        clustered."""
        return [n for n, label in zip(self.neurons, self.labels) if label < 0]

    def check_community(self, community: int) -> int:
        """``community`` as an int, after checking that it is one of this partition's.

        Parameters
        ----------
        community : int
            A community number, in 0..K-1.

        Returns
        -------
        int
            The same number as a Python int.

        Raises
        ------
        ValueError
            If it is not an integer in 0..K-1.
        """
        if not Interval(int, 0, self.num_communities - 1).accepts(community):
            raise ValueError(
                f"community must be in 0..{self.num_communities - 1}, got {community!r}"
            )
        return int(community)

    def member_positions(self, community: int) -> np.ndarray:
        """Positions in ``neurons`` of the community's members.

        Parameters
        ----------
        community : int
            A community number, in 0..K-1.

        Returns
        -------
        np.ndarray
            (size,) int positions into ``neurons`` (and ``labels``), ascending.
        """
        return np.flatnonzero(self.labels == self.check_community(community))

    def members(self, community: int) -> list[tuple[str, int]]:
        """The community's neurons as ``(layer, index)``.

        Parameters
        ----------
        community : int
            A community number, in 0..K-1.

        Returns
        -------
        list of (str, int)
            The members, in layer order.
        """
        return [self.neurons[i] for i in self.member_positions(community)]

    def spec(self, community: int) -> dict[str, list[int]]:
        """The community as an ablation spec ``{layer: [neuron, ...]}``.

        Parameters
        ----------
        community : int
            A community number, in 0..K-1.

        Returns
        -------
        dict of str to list of int
            The members' indices per layer, ready for :meth:`Analysis.ablate`.
        """
        out: dict[str, list[int]] = {}
        for layer, index in self.members(community):
            out.setdefault(layer, []).append(index)
        return out

    def to_dataframe(self) -> Any:
        """One row per neuron: layer, neuron index, community (-1 for dead).

        Returns
        -------
        pandas.DataFrame
            M rows with the columns ``layer``, ``neuron`` and ``community``.
        """
        import pandas as pd

        return pd.DataFrame(
            {
                "layer": [layer for layer, _ in self.neurons],
                "neuron": [index for _, index in self.neurons],
                "community": self.labels,
            }
        )

    def to_dict(self) -> dict[str, Any]:
        """The partition as plain JSON-ready values.

        Returns
        -------
        dict
            ``method``, ``params``, ``seed``, ``modularity``, ``stability``,
            ``communities`` (K lists of ``[layer, index]`` members, largest first) and
            ``dead`` (the dead neurons as ``[layer, index]``).
        """
        return {
            "method": self.method,
            "params": dict(self.params),
            "seed": self.seed,
            "modularity": self.modularity,
            "stability": self.stability,
            "communities": [
                [[layer, int(i)] for layer, i in self.members(c)] for c in range(self.num_communities)
            ],
            "dead": [[layer, int(i)] for layer, i in self.dead],
        }

    def __repr__(self) -> str:
        stability = "" if self.stability is None else f", stability ARI {self.stability:.2f}"
        return (
            f"Communities({self.method}, {self.num_communities} communities of {len(self.neurons)} "
            f"neurons in {self.layers}, modularity {self.modularity:.3f}{stability})"
        )


def reliability_caveats(communities: Communities, images: int) -> list[str]:
    """Why a partition should not be trusted as it is, each reason with what to do.

    Two reasons (docs/methods.md, section 3.3, "When a partition cannot be trusted"):

    - **unstable**: its stability (measured, not None) is below :data:`MIN_STABILITY`:
      re-runs with other seeds (or bootstrap resamples) group the neurons differently, so a
      community's membership is partly the method's chance;
    - **few images**: the living neurons are at least as many as the probe images. The
      ``M`` z-scored profiles then lie in a space of at most ``N - 1`` dimensions, so they
      are linearly dependent whatever the network does, and profiles without any structure
      already show correlation-matrix eigenvalues spread from 0 to 4 (Marchenko-Pastur at
      ``M = N``): the neighbour graph is built partly on the sample's chance.

    Parameters
    ----------
    communities : Communities
        The partition (its stability, method, parameters and dead neurons are read).
    images : int
        N: the probe images its profiles were measured on.

    Returns
    -------
    list of str
        One message per reason found (none: an empty list).
    """
    caveats = []
    stability = communities.stability
    if stability is not None and stability < MIN_STABILITY:
        coarser = _COARSER.get(communities.method, "fewer, larger communities").format(**communities.params)
        caveats.append(
            f"this {communities.method} partition is unstable: re-runs agree with it at a mean adjusted Rand index "
            f"of {stability:.2f}, below {MIN_STABILITY} (1: the same partition, 0: no more alike than chance), so "
            f"its communities' members are partly chance. Try more probe images, a coarser partition ({coarser}), "
            "or more stability_runs to measure the figure better"
        )
    living = len(communities.neurons) - len(communities.dead)
    if living >= images:
        caveats.append(
            f"{images:,} probe images for {living:,} living neurons: with no more images than neurons their "
            f"profiles are linearly dependent (they span at most {images - 1:,} dimensions), so part of the "
            "correlations the communities are built on comes from the small sample, not from the network. "
            f"Use more probe images than neurons (over {living:,}; several times as many is better), or "
            "partition fewer neurons (one layer, or a narrower one)"
        )
    return caveats


def check_method(method: str) -> str:
    """``method`` if it is one of :data:`METHOD`'s, or an error that names them."""
    if not METHOD.accepts(method):
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHOD.values)}")
    return method


def check_params(method: str, params: dict[str, Any]) -> dict[str, Any]:
    """The method's full parameter set, or an error that says what is wrong and what is allowed
    (the bounds are :data:`PARAMETERS`')."""
    check_method(method)
    unknown = set(params) - set(DEFAULTS[method])
    if unknown:
        raise ValueError(
            f"{method} takes no parameter {', '.join(sorted(unknown))}; "
            f"its parameters are {', '.join(DEFAULTS[method])}"
        )
    full = {**DEFAULTS[method], **params}
    for name, value in full.items():
        if name == "linkage":
            if not PARAMETERS[name].accepts(value):
                raise ValueError(f"linkage must be one of {', '.join(LINKAGES)}, got {value!r}")
        else:
            full[name] = _in_range(name, value)
    return full


def _in_range(name: str, value: object) -> int | float:
    """``value`` checked against ``PARAMETERS[name]``: a number of the wrong kind is refused by
    :func:`check` ("k must be an integer in 1..64"), one out of bounds with "must lie in"."""
    constraint = PARAMETERS[name]
    if Interval(constraint.kind).accepts(value) and not constraint.accepts(value):
        raise ValueError(f"{name} must lie in [{constraint.low}, {constraint.high}], got {value!r}")
    return check(name, value, constraint)


class Aggregator:
    """Partitions of one NeuronSet; keeps the expensive intermediate results between calls."""

    def __init__(self, neurons: NeuronSet) -> None:
        self.neurons = neurons
        self.alive = np.flatnonzero(~neurons.dead)
        self._edges: dict[tuple[int, float], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._igraphs: dict[tuple[int, float], Any] = {}
        self._coarse_graphs: dict[tuple[int, float, int], tuple[np.ndarray, Any]] = {}
        self._linkages: dict[str, np.ndarray] = {}
        self._embeddings: dict[tuple[int, float, int], np.ndarray] = {}
        self._lock = threading.RLock()

    @validate_params({"seed": SEED, "stability_runs": STABILITY_RUNS})
    def communities(
        self, method: str, params: dict[str, Any], seed: int, stability_runs: int,
        should_stop: Callable[[], bool] | None = None,
    ) -> Communities:
        full = check_params(method, params)
        if self.alive.size > LARGEST.get(method, self.alive.size):
            largest, why = LARGEST[method], _WHY_LARGEST[method].format(gib=self.alive.size**2 * 16 / 2**30)
            raise ValueError(
                f"{method} clustering of {self.alive.size:,} living neurons {why}, so it is offered up to "
                f"{largest:,} neurons; use 'louvain' or 'leiden' (a sparse neighbour graph, live at this size), "
                "or select fewer layers"
            )
        with self._lock:
            labels = self._labels(method, full, int(seed))
            stability = None
            if stability_runs and self.alive.size >= 2:  # one neuron has nothing to be stable about
                stability = self._stability(method, full, int(seed), labels, int(stability_runs), should_stop)
            q = modularity(labels, *self.edges(full["k"], full["min_corr"]))
        return Communities(method, full, int(seed), list(self.neurons.neurons), labels, q, stability)

    # ---------------------------------------------------------------- graphs
    def edges(self, k: int, min_corr: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        key = (k, min_corr)
        if key not in self._edges:
            self._edges[key] = self.neurons.knn_edges(k, min_corr)
        return self._edges[key]

    def _igraph(self, k: int, min_corr: float) -> Any:
        key = (k, min_corr)
        if key not in self._igraphs:
            ig = _import_igraph()
            rows, cols, weights = self.edges(k, min_corr)
            graph = ig.Graph(n=self.neurons.size, edges=np.stack([rows, cols], axis=1))
            graph.es["weight"] = weights
            self._igraphs[key] = graph
        return self._igraphs[key]

    # --------------------------------------------------------------- methods
    def _labels(self, method: str, p: dict[str, Any], seed: int) -> np.ndarray:
        raw = np.full(self.neurons.size, -1, dtype=np.int64)
        if self.alive.size < 2:  # nothing to compare: a living neuron alone is one community
            raw[self.alive] = 0
            return raw
        if method in ("louvain", "leiden"):
            raw[:] = self._modularity_method(method, p, seed)
        elif method == "agglomerative":
            raw[self.alive] = self._agglomerative(p["threshold"], p["linkage"])
        else:
            raw[self.alive] = self._spectral(p, seed)
        raw[self.neurons.dead] = -1
        return canonical(raw)

    def _modularity_method(self, method: str, p: dict[str, Any], seed: int) -> np.ndarray:
        """Louvain or Leiden on the kNN graph; above :data:`COARSE_ABOVE` living neurons and
        up to resolution :data:`COARSE_RESOLUTION`, on the graph of the micro-communities
        that Louvain's first level finds at that resolution (communities of communities)."""
        resolution = p["resolution"]
        if self.alive.size > COARSE_ABOVE and resolution <= COARSE_RESOLUTION:
            micro, graph = self._coarse(p["k"], p["min_corr"], seed)
            return _cluster(graph, method, resolution, seed)[micro]
        return _cluster(self._igraph(p["k"], p["min_corr"]), method, resolution, seed)

    def _coarse(self, k: int, min_corr: float, seed: int) -> tuple[np.ndarray, Any]:
        """(each neuron's micro-community, the weighted graph of the micro-communities): the
        edge weight between two is the sum of the weights between their members, and a
        self-loop holds the weight within one, so that a partition's modularity at any
        resolution is the same on both graphs."""
        key = (k, min_corr, seed)
        if key not in self._coarse_graphs:
            from scipy.sparse import coo_matrix

            ig = _import_igraph()
            with _seeded(seed):
                levels = self._igraph(k, min_corr).community_multilevel(
                    weights="weight", resolution=COARSE_RESOLUTION, return_levels=True
                )
            micro = np.asarray(levels[0].membership, dtype=np.int64)
            rows, cols, weights = self.edges(k, min_corr)
            a, b = np.minimum(micro[rows], micro[cols]), np.maximum(micro[rows], micro[cols])
            size = int(micro.max()) + 1
            summed = coo_matrix((weights, (a, b)), shape=(size, size)).tocsr().tocoo()  # duplicates summed
            graph = ig.Graph(n=size, edges=np.stack([summed.row, summed.col], axis=1))
            graph.es["weight"] = summed.data
            self._coarse_graphs[key] = (micro, graph)
        return self._coarse_graphs[key]

    def _agglomerative(self, threshold: float, linkage: str) -> np.ndarray:
        from scipy.cluster.hierarchy import fcluster

        return fcluster(self.dendrogram(linkage), t=threshold, criterion="distance")

    def dendrogram(self, linkage: str) -> np.ndarray:
        """SciPy linkage matrix over the living neurons with distance 1 - correlation."""
        if linkage not in self._linkages:
            self._linkages[linkage] = _linkage(self.neurons.correlation(self.alive, self.alive), linkage)
        return self._linkages[linkage]

    def _spectral(self, p: dict[str, Any], seed: int) -> np.ndarray:
        from sklearn.cluster import KMeans
        from threadpoolctl import threadpool_limits

        n = min(p["n_communities"], self.alive.size)
        if n == self.alive.size:  # as many communities as neurons: each its own
            return np.arange(n)
        embedding = self._embedding(p["k"], p["min_corr"], seed)
        # A few thousand points in at most 64 dimensions: BLAS and OpenMP threads cost more
        # than they bring, and beside other busy processes they made a step 9x slower.
        with threadpool_limits(limits=1):
            return KMeans(n_clusters=n, n_init=4, random_state=seed).fit_predict(embedding[:, :n])

    def _embedding(self, k: int, min_corr: float, seed: int) -> np.ndarray:
        key = (k, min_corr, seed)
        if key not in self._embeddings:
            from scipy.sparse import coo_matrix
            from sklearn.manifold import spectral_embedding

            rows, cols, weights = self.edges(k, min_corr)
            position = np.full(self.neurons.size, -1)
            position[self.alive] = np.arange(self.alive.size)
            n = self.alive.size
            adjacency = coo_matrix((weights, (position[rows], position[cols])), shape=(n, n))
            adjacency = (adjacency + adjacency.T).tocsr()
            components = min(_MAX_SPECTRAL, n - 1) if n > 1 else 1
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Graph is not fully connected")
                self._embeddings[key] = spectral_embedding(
                    adjacency, n_components=components, random_state=seed, drop_first=False
                )
        return self._embeddings[key]

    # ------------------------------------------------------------- stability
    def _stability(
        self, method: str, p: dict[str, Any], seed: int, labels: np.ndarray, runs: int,
        should_stop: Callable[[], bool] | None,
    ) -> float:
        """Mean adjusted Rand index against ``labels``: over other seeds, or (for the
        deterministic agglomerative method) over bootstrap resamples of the probe images.
        ``should_stop`` is asked before each re-run; True ends the work with Cancelled."""
        from sklearn.metrics import adjusted_rand_score

        alive = self.alive
        scores = []
        for r in range(1, runs + 1):
            if should_stop is not None and should_stop():
                raise Cancelled("the stability runs were stopped")
            if method == "agglomerative":
                other = self._bootstrap_cut(p, seed + r)
            else:
                other = self._labels(method, p, seed + r)[alive]
            scores.append(adjusted_rand_score(labels[alive], other))
        return float(np.mean(scores))

    def _bootstrap_cut(self, p: dict[str, Any], seed: int) -> np.ndarray:
        from scipy.cluster.hierarchy import fcluster

        z = self.neurons.z[:, self.alive]
        rows = np.random.default_rng(seed).integers(0, z.shape[0], size=z.shape[0])
        resampled = build_neuron_set({"bootstrap": z[rows]}, self.neurons.device)
        every = np.arange(resampled.size)
        return fcluster(_linkage(resampled.correlation(every, every), p["linkage"]), t=p["threshold"], criterion="distance")


@contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """igraph's global random source seeded for one call, atomically."""
    ig = _import_igraph()
    with _IGRAPH_LOCK:
        ig.set_random_number_generator(random.Random(seed))
        try:
            yield
        finally:
            ig.set_random_number_generator(random)


def _cluster(graph: Any, method: str, resolution: float, seed: int) -> np.ndarray:
    """Louvain (igraph's multilevel) or Leiden (modularity, iterated until stable)."""
    with _seeded(seed):
        if method == "louvain":
            clusters = graph.community_multilevel(weights="weight", resolution=resolution)
        else:
            clusters = graph.community_leiden(
                objective_function="modularity", weights="weight", resolution=resolution, n_iterations=-1
            )
    return np.asarray(clusters.membership, dtype=np.int64)


def _linkage(corr: np.ndarray, method: str) -> np.ndarray:
    from scipy.cluster.hierarchy import linkage
    from scipy.spatial.distance import squareform

    distance = np.clip(1.0 - corr.astype(np.float64), 0.0, 2.0)
    np.fill_diagonal(distance, 0.0)
    if distance.shape[0] < 2:
        return np.zeros((0, 4))
    return linkage(squareform(distance, checks=False), method=method)


def canonical(raw: np.ndarray) -> np.ndarray:
    """Renumber communities 0.. by falling size, ties by first member; keep -1 for none."""
    out = np.full_like(raw, -1)
    alive = raw >= 0
    if not alive.any():
        return out
    ids, first, counts = np.unique(raw[alive], return_index=True, return_counts=True)
    order = np.lexsort((first, -counts))
    mapping = np.empty(ids.max() + 1, dtype=np.int64)
    mapping[ids[order]] = np.arange(len(ids))
    out[alive] = mapping[raw[alive]]
    return out


def modularity(labels: np.ndarray, rows: np.ndarray, cols: np.ndarray, weights: np.ndarray) -> float:
    """Newman modularity (resolution 1) of ``labels`` on an undirected weighted edge list."""
    total = weights.sum()
    if total <= 0 or (labels < 0).all():
        return 0.0
    k = int(labels.max()) + 1
    m = labels.size
    degree = np.bincount(rows, weights, m) + np.bincount(cols, weights, m)
    same = (labels[rows] == labels[cols]) & (labels[rows] >= 0)
    internal = np.bincount(labels[rows][same], weights[same], minlength=k)
    alive = labels >= 0
    degree_sum = np.bincount(labels[alive], degree[alive], minlength=k)
    return float((internal / total - (degree_sum / (2 * total)) ** 2).sum())


def _import_igraph() -> Any:
    try:
        import igraph
    except ImportError as exc:  # pragma: no cover - igraph is a dependency
        raise ImportError(
            "Louvain and Leiden run on igraph, which is not importable here; install it with "
            "`pip install igraph` (or choose method='agglomerative' or 'spectral')"
        ) from exc
    return igraph


def aggregator(probe: Probe, layers: Sequence[str] | str | None = None) -> Aggregator:
    """The aggregator of ``layers`` (default: all selected) of a probe: their neuron set with
    the correlation, dendrograms and embeddings it has computed, kept in the probe (one per
    set of layers, in the model's order) so that every caller shares them.

    Parameters
    ----------
    probe : Probe
        The analysis whose profiles are grouped.
    layers : str or list of str, optional
        Selected layers.

    Returns
    -------
    Aggregator
        The same object for the same set of layers.
    """
    key = tuple(probe.ordered_layers(layers))
    return probe.memo(
        "aggregators", key, lambda: Aggregator(build_neuron_set({layer: probe.profiles(layer) for layer in key}, probe.device))
    )
