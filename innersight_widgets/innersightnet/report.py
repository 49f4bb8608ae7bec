"""InnerSightNet evaluation: what each community responds to, whether it matters, where it flows.

Cheap figures (scores, selectivity, coherence, concept AUROC) are computed for all
communities at once when the report is made; the costly ones (patches, ablation
importance, flow) are computed on request and kept. The report holds the partition, its
scores and what it computed; the pieces it delegates to take plain inputs and never
import it: ``importance`` (the ablation test), ``pathways`` (flow between communities,
the flow graph, pathways into classes) and ``concepts`` (concept AUROC, labels).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import networkx as nx
import numpy as np

from .._validation import Interval, Options, validate_params
from ..engine import class_means, write_html
from .aggregation import Communities, aggregator, modularity
from .concepts import ConceptScore, concept_aurocs, concept_values, label_text, ranked
from .importance import Importance, image_sample, importance_test
from .pathways import Pathway, build_flow_graph, class_attribution, layer_flows, strongest_pathways

if TYPE_CHECKING:
    from ..engine import Probe

#: How a community's top images are ranked (docs/methods.md, section 3.4, item 1): by its
#: specific score (the default), which discounts how strongly an image drives the community's
#: whole layer, or by the plain community score.
RANKING = Options(
    "specific", "plain",
    meaning="how top images are ranked: 'specific' discounts an image's drive of the community's whole layer, "
    "'plain' is the community score",
)
#: Each ranking in words, for the panels and pages that show top images.
RANKING_TEXT = {
    "specific": "specific score: the community score less what the image's drive of the whole layer explains",
    "plain": "community score: the mean z-score of the members, hub images included",
}


@dataclass(frozen=True)
class Patch:
    """A crop of a probe image around a community member's strongest response.

    Parameters
    ----------
    image : int
        The probe image index.
    layer : str
        The member's layer.
    neuron : int
        The member's index in its layer.
    box : tuple of int
        (top, left, bottom, right) in input pixels, bottom and right exclusive: the
        member's measured receptive field around its maximum on the image.
    """

    image: int
    layer: str
    neuron: int
    box: tuple[int, int, int, int]  # top, left, bottom, right in input pixels (bottom/right exclusive)


class CommunityReport:
    """The evaluation of one partition (docs/methods.md, section 3.4: evaluation 1-6).

    Parameters
    ----------
    analysis : Analysis
        The analysis the communities were made by.
    communities : Communities or sequence of Communities
        The partition to evaluate (K communities of M neurons), or partitions of
        disjoint layers (one per layer, say) evaluated as one: see
        :func:`stack_partitions`.

    Attributes
    ----------
    communities : Communities
        The partition evaluated (the stacked one for a sequence).
    scores : np.ndarray
        N x K: each community's score on each probe image, the mean of its members'
        z-scored profiles.
    specific_scores : np.ndarray
        N x K: each community's score less the part of it that its layers' drive explains
        (see :attr:`specific_scores`); the default ranking of top images.

    Raises
    ------
    ValueError
        If the communities were made by another analysis or over other layers.
    """

    def __init__(self, analysis: Probe, communities: Communities | Sequence[Communities]) -> None:
        self.analysis = analysis
        if not isinstance(communities, Communities):
            communities = stack_partitions(analysis, communities)
        self.communities = communities
        neurons = aggregator(analysis, communities.layers).neurons
        if neurons.neurons != communities.neurons:
            raise ValueError("these communities were made by another analysis or for other layers")
        self._neurons = neurons
        from scipy.sparse import csr_matrix

        k = communities.num_communities
        alive = np.flatnonzero(communities.labels >= 0)
        # M x K sparse 0/1 membership: every product with it costs O(M), whatever K is.
        self._membership = csr_matrix(
            (np.ones(alive.size, np.float32), (alive, communities.labels[alive])), shape=(neurons.size, k)
        )
        sizes = np.maximum(np.asarray(self._membership.sum(0)).ravel(), 1)
        #: N x K community scores: the mean of the members' z-scored activations.
        self.scores = np.asarray((self._membership.T @ neurons.z.T).T) / sizes
        self._sizes = sizes
        # What was computed on request, kept: importance tests (per community, draws, mode,
        # seed, images), flows between communities (per method, images: by pair of layers,
        # and summed), class flows (per images) and concept AUROCs (per community).
        self._importance: dict[tuple[int, int, str, int, int], Importance] = {}
        self._flows: dict[tuple[str, int], dict[tuple[str, str], np.ndarray]] = {}
        self._flow_totals: dict[tuple[str, str, int], np.ndarray] = {}
        self._class_flows: dict[int, np.ndarray] = {}
        self._aurocs: dict[int, dict[tuple[str, str], float]] = {}

    @property
    def num_communities(self) -> int:
        """K: the number of communities evaluated."""
        return self.communities.num_communities

    # ------------------------------------------------------------ 1. images
    @cached_property
    def specific_scores(self) -> np.ndarray:
        """N x K: each community's score with the part that its layers' drive explains removed.

        An image that drives every neuron of a layer (a "hub") has a high score in every
        community of that layer, so the plain score puts the same few hubs on top of most
        communities. The **drive** of a
        layer on an image is the mean z-score of all its living neurons there. A community's
        specific score is the least-squares residual of its score after regression on the
        drives of the layers it has members in (no intercept: both are centred over the
        images): what the community does on an image beyond what the image does to the
        whole layer. A regression rather than a plain difference (score minus drive):
        communities follow the drive to different degrees (on EfficientNet-Lite0's
        ``_blocks.11`` their scores correlate 0.01 to 0.46 with it) and the drive of many
        neurons varies less than a community's score, so a difference over-corrects the
        ones that ignore it and under-corrects the others; the residual leaves a
        community that ignores the drive as it is and is uncorrelated with the drive over
        the probe images.

        Returns
        -------
        np.ndarray
            N x K, in the units of :attr:`scores`; computed once.
        """
        drive = self._drives()  # N x L
        present = self._presence()  # K x L
        specific = np.empty_like(self.scores)
        patterns, group = np.unique(present, axis=0, return_inverse=True)
        for g, layers in enumerate(patterns):
            chosen = np.flatnonzero(group.ravel() == g)
            regressors = drive[:, layers]
            slopes = np.linalg.lstsq(regressors, self.scores[:, chosen], rcond=None)[0]
            specific[:, chosen] = self.scores[:, chosen] - regressors @ slopes
        return specific

    def _drives(self) -> np.ndarray:
        """N x L: the mean z-score of each layer's living neurons on each image (0 for a
        layer whose neurons are all dead)."""
        layer_of, alive = self._neurons.layer_of(), ~self._neurons.dead
        counts = np.bincount(layer_of[alive], minlength=len(self._neurons.layers))
        weights = np.zeros((self._neurons.size, len(self._neurons.layers)))
        weights[np.flatnonzero(alive), layer_of[alive]] = 1.0 / counts[layer_of[alive]]
        return self._neurons.z @ weights

    def _presence(self) -> np.ndarray:
        """K x L bool: whether a community has members in each layer of the neuron set."""
        layers = np.eye(len(self._neurons.layers))[self._neurons.layer_of()]
        return np.asarray((self._membership.T @ layers) > 0)

    @validate_params({"ranking": RANKING})
    def image_scores(self, ranking: str = "specific") -> np.ndarray:
        """The N x K scores a ranking orders the images by.

        Parameters
        ----------
        ranking : {"specific", "plain"}
            :attr:`specific_scores` or :attr:`scores`.

        Returns
        -------
        np.ndarray
            N x K.
        """
        return self.specific_scores if ranking == "specific" else self.scores

    @validate_params({"ranking": RANKING})
    def top_images(self, community: int, k: int = 16, ranking: str = "specific") -> np.ndarray:
        """Probe image indices that show the community best, best first.

        Parameters
        ----------
        community : int
            A community number, in 0..K-1.
        k : int
            How many images.
        ranking : {"specific", "plain"}
            ``"specific"`` (default): by :attr:`specific_scores`, the images the community
            responds to beyond how strongly they drive its whole layer; ``"plain"``: by the
            community score (:attr:`scores`), where images that drive every neuron of the
            layer (hubs) top most communities.

        Returns
        -------
        np.ndarray
            (min(k, N),) probe image indices.
        """
        c = self.communities.check_community(community)
        return np.argsort(-self.image_scores(ranking)[:, c], kind="stable")[:k]

    @validate_params({"ranking": RANKING})
    def patches(self, community: int, k: int = 16, ranking: str = "specific") -> list[Patch]:
        """For each of the top-k images, the receptive field of the member (of a conv layer)
        that responds most strongly there, centred on that member's maximum.

        Parameters
        ----------
        community : int
            A community number, in 0..K-1.
        k : int
            How many of its top images.
        ranking : {"specific", "plain"}
            How the top images are ranked (see :meth:`top_images`).

        Returns
        -------
        list of Patch
            One per top image, in the order of :meth:`top_images`; empty when no member
            has a 2-D map.
        """
        analysis = self.analysis
        positions = self.communities.member_positions(community)
        spatial = [p for p in positions if len(analysis.layer_info(self._neurons.neurons[p][0]).spatial_shape) == 2]
        if not spatial:
            return []
        out = []
        for image in self.top_images(community, k, ranking):
            best = spatial[int(np.argmax(self._neurons.z[image, spatial]))]
            layer, neuron = self._neurons.neurons[best]
            out.append(Patch(int(image), layer, neuron, analysis.receptive_box(layer, image, neuron)))
        return out

    # ---------------------------------------------------- 2. class selectivity
    def class_selectivity(self) -> tuple[np.ndarray, np.ndarray]:
        """(K_classes x K_communities mean score per class, selectivity index per community).

        Returns
        -------
        means : np.ndarray
            K_classes x K_communities: the mean community score over each class's images.
        selectivity : np.ndarray
            K_communities: 1 - the normalised entropy of the class means shifted to start
            at 0; 0 when every class drives the community alike, 1 when one alone does.
        """
        return self._class_selectivity

    @cached_property
    def _class_selectivity(self) -> tuple[np.ndarray, np.ndarray]:
        """(K_classes x K_communities mean score per class, selectivity index per community).

        The index is 1 - normalised entropy of the class means shifted to start at 0:
        0 when every class drives the community alike, 1 when one class alone does. Only
        classes with probe images count: an absent class has mean NaN, and the index is
        NaN when fewer than two classes are present.
        """
        means = class_means(self.scores, self.analysis.labels, self.analysis.data.num_classes).astype(np.float32)
        present = ~np.isnan(means[:, 0])
        if present.sum() < 2:
            return means, np.full(means.shape[1], np.nan, dtype=np.float32)
        shifted = means[present] - means[present].min(axis=0, keepdims=True)
        total = shifted.sum(axis=0, keepdims=True)
        p = np.divide(shifted, total, out=np.full_like(shifted, 1.0 / present.sum()), where=total > 0)
        entropy = -(p * np.log(np.where(p > 0, p, 1))).sum(0)
        return means, 1.0 - entropy / np.log(present.sum())

    def top_classes(self, community: int, k: int = 3) -> list[str]:
        """The classes whose images drive the community most.

        Parameters
        ----------
        community : int
            A community number, in 0..K-1.
        k : int
            How many classes at most.

        Returns
        -------
        list of str
            The names of the (at most) ``k`` classes with the highest mean community score,
            best first; classes without probe images are never among them.
        """
        means = self.class_selectivity()[0][:, community]
        present = np.flatnonzero(~np.isnan(means))
        best = present[np.argsort(-means[present], kind="stable")[:k]]
        return [self.analysis.data.class_names[i] for i in best]

    # --------------------------------------------------------- 3. importance
    @validate_params({"draws": Interval(int, 1, meaning="20 or more for a p-value below 0.05")})
    def importance(
        self,
        community: int,
        draws: int = 20,
        mode: str = "zero",
        seed: int = 0,
        should_stop: Callable[[], bool] | None = None,
        on_progress: Callable[[int, int], None] | None = None,
        images: int | None = None,
        on_partial: Callable[[Importance], None] | None = None,
    ) -> Importance:
        """Ablate the members; compare with ``draws`` random sets of the same size per layer.

        Parameters
        ----------
        community : int
            The community to test.
        draws : int
            How many random neuron sets make the null distribution (20 or more for a
            p-value that can fall below 0.05).
        mode : {"zero", "mean"}
            What replaces an ablated neuron's output (see :meth:`Analysis.ablate`).
        seed : int
            Seeds the random sets (with the community) and the image sample.
        should_stop : callable, optional
            Asked between batches; True ends the test with :class:`~.runner.Cancelled`.
        on_progress : callable, optional
            ``on_progress(done, total)`` after each batch: image copies done out of all
            of the test's, ``(1 + draws)`` times the images used.
        images : int, optional
            Evaluate on a fixed sample of this many probe images (all when None or at
            least their number), drawn from ``seed`` alone: the community and every
            random set are compared on the same images, and every community of the report
            on the same sample. A few hundred images make a test interactive; a class
            missing from the sample has NaN class drops.
        on_partial : callable, optional
            Hears the test as it fills in, for a display: first an :class:`Importance`
            with the community's own drop and no random sets (it runs first, alone), then
            one after each of a few groups of random sets, the last being the result
            returned. A result already computed is handed over once.

        Returns
        -------
        Importance
            Kept per (community, draws, mode, seed, images used). The random sets run in
            the same groups whether or not ``on_partial`` is given, so the figures do not
            depend on it.
        """
        c = self.communities.check_community(community)
        sample = image_sample(self.analysis, images, seed)
        key = (c, draws, mode, int(seed), len(self.analysis.data) if sample is None else len(sample))
        if key not in self._importance:
            self._importance[key] = importance_test(
                self.analysis, c, self.communities.spec(c), draws, mode, seed, sample, should_stop, on_progress,
                on_partial,
            )
        elif on_partial is not None:
            on_partial(self._importance[key])
        return self._importance[key]

    # ---------------------------------------------------------- 4. coherence
    def coherence(self) -> tuple[np.ndarray, np.ndarray]:
        """(mean correlation within each community, mean correlation of its members to the
        other living neurons of the same layers). NaN within a one-neuron community.

        Returns
        -------
        within : np.ndarray
            K: the mean correlation over pairs of distinct members.
        outside : np.ndarray
            K: the mean correlation of members with the living neurons outside the
            community, over all layers of the partition.
        """
        return self._coherence

    def similarity(self) -> np.ndarray:
        """K x K mean correlation between the members of two communities (O(N K^2), from
        the community scores: the mean correlation of two sets of neurons is the product of
        their mean z-scores averaged over the images).

        Returns
        -------
        np.ndarray
            K x K, symmetric; the diagonal averages over all pairs of members, each
            member with itself included.
        """
        return self.scores.T @ self.scores / self.scores.shape[0]

    @cached_property
    def _coherence(self) -> tuple[np.ndarray, np.ndarray]:
        n, sizes = self.scores.shape[0], self._sizes
        sums = self.scores * sizes  # N x K: the summed z-scores of each community's members
        within_sum = (sums * sums).sum(0) / n  # the sum of the correlations over pairs of members
        alive = ~self._neurons.dead
        to_all = sums.T @ self._neurons.z.sum(1) / n  # to every living neuron (dead ones have z = 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            within = np.where(sizes > 1, (within_sum - sizes) / (sizes * (sizes - 1)), np.nan)
            outside_count = sizes * (alive.sum() - sizes)
            outside = np.where(outside_count > 0, (to_all - within_sum) / outside_count, np.nan)
        return within, outside

    # ------------------------------------------------------- 5. information flow
    def flow(self, method: str = "gradient", images: int = 256) -> np.ndarray:
        """K x K summed flow edges from the members of community a in one selected layer to
        those of community b in the next selected layer (rows: from, columns: to).

        Parameters
        ----------
        method : {"gradient", "weights"}
            How the neuron-level flow edges are measured (see :meth:`Analysis.flow`).
        images : int
            Probe images the gradient flow is averaged over.

        Returns
        -------
        np.ndarray
            K x K float64, the sum of the flows per pair of layers; computed once per
            (method, images) and the same array after.
        """
        key = ("total", method, int(images))
        if key not in self._flow_totals:
            total = np.zeros((self.num_communities, self.num_communities))
            for between in self._layer_flows(method, images).values():
                total += between
            self._flow_totals[key] = total
        return self._flow_totals[key]

    def _layer_flows(self, method: str, images: int) -> dict[tuple[str, str], np.ndarray]:
        """(lower, upper) -> K x K summed flow edges from each community's members in
        ``lower`` to each community's members in ``upper``, for every pair of consecutive
        layers of the partition; kept per (method, images)."""
        key = (method, int(images))
        if key not in self._flows:
            self._flows[key] = layer_flows(self.analysis, self._layer_memberships(), method, images)
        return self._flows[key]

    @validate_params(
        {"images": Interval(int, 1, meaning="probe images of each class the class flow is averaged over")}
    )
    def class_flow(self, images: int = 256) -> np.ndarray:
        """K_classes x K: the attribution of each class's logit to each community's members
        in the partition's last layer (docs/methods.md, section 3.6).

        For class c and community b: the gradient of logit c with respect to the last
        layer's map, times the map, summed over b's members there and over positions
        (signed), averaged over at most ``images`` probe images of class c.

        Parameters
        ----------
        images : int
            At most this many images of each class, the first ones of the class in a
            seeded order of the probe set (seed 0, as for :meth:`Analysis.flow`).

        Returns
        -------
        np.ndarray
            K_classes x K float64, kept per ``images``; a class without probe images has
            a row of NaN, a community without members in the last layer a column of 0.
        """
        if images not in self._class_flows:
            layer = self.communities.layers[-1]
            per_neuron = class_attribution(self.analysis, layer, images)  # K_classes x C
            self._class_flows[images] = per_neuron @ self._layer_membership(layer)
        return self._class_flows[images]

    def _layer_membership(self, layer: str) -> np.ndarray:
        """C_layer x K 0/1: the community of each of ``layer``'s neurons."""
        start, stop = self._neurons.offsets[layer]
        return self._membership[start:stop].toarray()

    def _layer_memberships(self) -> dict[str, np.ndarray]:
        """The partition's layers, lowest first -> their :meth:`_layer_membership`."""
        return {layer: self._layer_membership(layer) for layer in self.communities.layers}

    # -------------------------------------------------- 6. concept association
    def _compute_aurocs(self, communities: list[int]) -> None:
        """Keep the concept AUROCs of those of ``communities`` not computed yet, in one batch."""
        todo = [c for c in communities if c not in self._aurocs]
        if todo:
            self._aurocs.update(zip(todo, concept_aurocs(self.scores[:, todo], concept_values(self.analysis))))

    def labels(self, communities: list[int] | None = None) -> list[ConceptScore | None]:
        """The best concept label of each of ``communities`` (default: all), in one batch.

        Parameters
        ----------
        communities : list of int, optional
            Community numbers; None for all K.

        Returns
        -------
        list of ConceptScore or None
            One per community asked for; None where the data has nothing to label with.
        """
        chosen = list(range(self.num_communities)) if communities is None else list(communities)
        self._compute_aurocs(chosen)
        return [self.label(c) for c in chosen]

    def concepts(self, community: int) -> list[ConceptScore]:
        """AUROC of the community score for every annotated concept value, best first.

        Parameters
        ----------
        community : int
            A community number, in 0..K-1.

        Returns
        -------
        list of ConceptScore
            Every value of every concept (and of ``"class"``) that some but not all
            probe images have, highest AUROC first.
        """
        c = self.communities.check_community(community)
        self._compute_aurocs([c])
        return ranked(self._aurocs[c])

    def label(self, community: int) -> ConceptScore | None:
        """The concept value the community separates best: its label.

        Parameters
        ----------
        community : int
            A community number, in 0..K-1.

        Returns
        -------
        ConceptScore or None
            The highest AUROC, or None when there is nothing to label with.
        """
        scores = self.concepts(community)
        return scores[0] if scores else None

    # ------------------------------------------------------------- summaries
    def to_dataframe(self, importance: bool = False, draws: int = 20) -> Any:
        """One row per community; with ``importance=True`` the ablation test is run for each.

        Parameters
        ----------
        importance : bool
            Also run :meth:`importance` for every community (slow: 1 + ``draws``
            ablations each).
        draws : int
            Random sets per importance test.

        Returns
        -------
        pandas.DataFrame
            K rows indexed by ``community``: size, layers, label and its AUROC, top classes,
            selectivity, coherence within and outside, and with ``importance`` the
            accuracy drop, null mean, z-score and p-value.
        """
        import pandas as pd

        return pd.DataFrame([self._row(c, importance, draws) for c in range(self.num_communities)]).set_index("community")

    @validate_params({"ranking": RANKING})
    def to_html(
        self, path: str | Path, top_images: int = 8, draws: int | None = 20, images: int | None = None,
        ranking: str = "specific", visualise: bool = False, feature_options: dict[str, Any] | None = None,
    ) -> Path:
        """Write the communities as a self-contained HTML page that opens offline: the
        community graph (hover, zoom, click a community for its top images), class
        selectivity, and each community's importance against random sets.

        Parameters
        ----------
        path : str or Path
            The HTML file to write.
        top_images : int
            Images shown per community.
        draws : int or None
            Random sets per importance test; None leaves the importance out (no model run).
        images : int, optional
            Probe images each importance test runs on (all when None).
        ranking : {"specific", "plain"}
            How the top images are ranked (see :meth:`top_images`); the page says which.
        visualise : bool
            Also show what each community looks for (its feature visualisation) under its
            top images.
        feature_options : dict, optional
            With ``visualise``: ``visualise``'s other arguments (``mean``, ``std``, ``size``, ...).

        Returns
        -------
        Path
            The file written (see :func:`innersight_widgets.reports.communities_html`).
        """
        return write_html(
            self, path, top_images=top_images, draws=draws, images=images, ranking=ranking, visualise=visualise,
            feature_options=feature_options,
        )

    def to_dict(self, importance: bool = False, draws: int = 20) -> dict[str, Any]:
        """The partition and its evaluation as plain JSON-ready values.

        Parameters
        ----------
        importance : bool
            Also run the ablation test for every community.
        draws : int
            Random sets per importance test.

        Returns
        -------
        dict
            ``communities`` (:meth:`Communities.to_dict`) and ``evaluation`` (K dicts,
            the rows of :meth:`to_dataframe`).
        """
        return {
            "communities": self.communities.to_dict(),
            "evaluation": [self._row(c, importance, draws) for c in range(self.num_communities)],
        }

    def _row(self, c: int, importance: bool, draws: int) -> dict[str, Any]:
        _, selectivity = self.class_selectivity()
        within, outside = self.coherence()
        label = self.label(c)
        row: dict[str, Any] = {
            "community": c,
            "size": int(self.communities.sizes[c]),
            "layers": ",".join(sorted({layer for layer, _ in self.communities.members(c)})),
            "label": label_text(label),
            "label_auroc": None if label is None else label.auroc,
            "top_classes": self.top_classes(c),
            "selectivity": float(selectivity[c]),
            "coherence_within": _plain(within[c]),
            "coherence_outside": _plain(outside[c]),
        }
        if importance:
            imp = self.importance(c, draws=draws)
            row.update(
                accuracy_drop=imp.accuracy_drop, null_mean=imp.null_mean, z_score=imp.z_score, p_value=imp.p_value
            )
        return row

    def community_graph(self, flow: bool = False, top: int | None = None) -> nx.DiGraph:
        """Communities as nodes (size, label, layers); edges carry the mean correlation
        between two communities (when positive; with ``top``, only each community's ``top``
        strongest) and, with ``flow=True``, the summed flow.

        Parameters
        ----------
        flow : bool
            Add ``flow`` edges from :meth:`flow` (computes the gradient flow if needed).
        top : int, optional
            Keep only each community's ``top`` most similar others.

        Returns
        -------
        networkx.DiGraph
            K nodes named ``"c0"``, ``"c1"``, ...; similarity edges both ways, flow edges
            from lower to upper.
        """
        graph = nx.DiGraph()
        layer_names = np.array(self._neurons.layers)
        present = self._presence()
        for c, label in enumerate(self.labels()):
            graph.add_node(
                f"c{c}", community=c, size=int(self.communities.sizes[c]), layers=",".join(layer_names[present[c]]),
                label=label_text(label) or "", label_auroc=0.0 if label is None else label.auroc,
            )
        between = self.similarity().copy()
        np.fill_diagonal(between, 0)
        if top is not None:
            keep = np.zeros_like(between, dtype=bool)
            strongest = np.argsort(-between, axis=1)[:, :top]
            keep[np.arange(len(between))[:, None], strongest] = True
            between = np.where(keep, between, 0)
        for i, j in zip(*np.nonzero(between > 0)):
            graph.add_edge(f"c{i}", f"c{j}", similarity=float(between[i, j]))
        if flow:
            f = self.flow()
            for i, j in zip(*np.nonzero(f)):
                graph.add_edge(f"c{i}", f"c{j}", flow=float(f[i, j]))
        return graph

    # ---------------------------------------------------------- 5b. pathways
    def flow_graph(self, method: str = "gradient", images: int = 256) -> nx.DiGraph:
        """The layered graph of community parts and classes that :meth:`pathways` walks
        (docs/methods.md, section 3.6).

        Parameters
        ----------
        method : {"gradient", "weights"}
            How the flow edges between layers are measured (see :meth:`Analysis.flow`).
        images : int
            Probe images the flow between layers is averaged over, and at most as many
            images of each class for the class edges (see :meth:`class_flow`).

        Returns
        -------
        networkx.DiGraph
            One node ``"layer:c<community>"`` per community part (a community's living
            members in one layer) with ``kind="community"``, ``layer``, ``depth`` (the
            layer's position, 0 lowest), ``community``, ``size`` (members in that layer),
            ``label`` and ``label_auroc`` (the community's); one node ``"class:<name>"``
            per class with ``kind="class"``, ``depth`` = the number of layers and
            ``target_class``. Edges between parts of consecutive layers carry ``flow``
            (the summed flow edges) and ``share`` (normalised per upper part); edges
            from the last layer's parts to classes carry ``attribution`` (signed, see
            :meth:`class_flow`) and ``share`` (its positive part normalised per class).
            Edges with no flow are left out.
        """
        return build_flow_graph(
            self._layer_memberships(), self._layer_flows(method, images), self.class_flow(images), self.labels(),
            self.analysis.data.class_names,
        )

    @validate_params({"k": Interval(int, 1, meaning="paths wanted")})
    def pathways(
        self, target_class: int | str, k: int = 3, method: str = "gradient", images: int = 256
    ) -> list[Pathway]:
        """The ``k`` strongest paths of community parts from the lowest layer to a class.

        A path takes one community part per layer of the partition; its score is the
        product of its shares (docs/methods.md, section 3.6): the share of the class's
        positive attribution that the last part carries, times the share of each upper
        part's incoming flow that comes from the part below it. One layer is allowed: a
        path is then one community and its share of the class. Found exactly by keeping
        the ``k`` best partial paths into every part, layer by layer.

        Parameters
        ----------
        target_class : int or str
            The class, by index or name.
        k : int
            How many paths.
        method : {"gradient", "weights"}
            How the flow edges between layers are measured (see :meth:`Analysis.flow`).
        images : int
            Probe images the flow between layers is averaged over, and at most as many
            images of each class for the class edges (see :meth:`class_flow`).

        Returns
        -------
        list of Pathway
            At most ``k`` paths with a positive score, strongest first (fewer when fewer
            paths carry any flow into the class).

        Raises
        ------
        ValueError
            For an unknown class (the message lists the classes), a class without probe
            images, or ``k`` below 1.
        """
        analysis = self.analysis
        cls = analysis.class_index(target_class)
        return strongest_pathways(
            self._layer_memberships(), self._layer_flows(method, images), self.class_flow(images), self.labels(),
            analysis.data.class_names, cls, k,
        )


def stack_partitions(analysis: Probe, parts: Sequence[Communities]) -> Communities:
    """Partitions of disjoint layers (e.g. one per layer) as one partition of all their layers.

    Parameters
    ----------
    analysis : Analysis
        The analysis that made every part.
    parts : sequence of Communities
        Partitions whose layers do not overlap; in any order.

    Returns
    -------
    Communities
        Method ``"stacked"``: the parts' communities side by side, those of the lowest
        part first, each part's numbers shifted by the communities of the parts below;
        ``params`` holds ``k`` and ``min_corr`` (the lowest part's) and ``parts`` (each
        part's layers, method, seed and params); ``modularity`` is measured on the
        similarity graph of all the layers with that ``k`` and ``min_corr``;
        ``stability`` is None.

    Raises
    ------
    ValueError
        For no parts, parts that share a layer, or parts whose layers interleave.
    """
    parts = list(parts)
    if not parts or not all(isinstance(part, Communities) for part in parts):
        raise ValueError("give a Communities, or a list of Communities of disjoint layers (e.g. one per layer)")
    position = {layer: i for i, layer in enumerate(analysis.layers)}
    parts.sort(key=lambda part: position.get(part.layers[0], -1))
    layers = [layer for part in parts for layer in part.layers]
    if len(set(layers)) < len(layers):
        raise ValueError(f"the partitions share layers ({', '.join(layers)}); give partitions of disjoint layers")
    if layers != analysis.ordered_layers(layers):
        raise ValueError(
            f"the partitions' layers interleave ({' | '.join(','.join(part.layers) for part in parts)}); "
            "each partition must cover layers that follow one another"
        )
    offsets = np.cumsum([0] + [part.num_communities for part in parts[:-1]])
    labels = np.concatenate([np.where(part.labels >= 0, part.labels + shift, -1) for part, shift in zip(parts, offsets)])
    graph = {name: parts[0].params.get(name, default) for name, default in (("k", 10), ("min_corr", 0.0))}
    params = {
        **graph,
        "parts": [
            {"layers": part.layers, "method": part.method, "seed": part.seed, "params": dict(part.params)}
            for part in parts
        ],
    }
    neurons = [neuron for part in parts for neuron in part.neurons]
    q = modularity(labels, *aggregator(analysis, layers).edges(graph["k"], graph["min_corr"]))
    return Communities("stacked", params, parts[0].seed, neurons, labels, q, None)


def _plain(x: float) -> float | None:
    return None if np.isnan(x) else float(x)

