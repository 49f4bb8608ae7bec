"""CircuitView: NeurFlow's circuit of a class as a layered graph of concept groups.

Click a group for its representative crops, label, strongest inputs and outputs, and what
it looks for (its feature visualisation, drawn as it forms); pick an
image (a misclassified one, say) to see which groups it lights, and where.
"""

from __future__ import annotations

from typing import Any, ClassVar

import ipywidgets as w
import numpy as np
import traitlets

from .._validation import Constraint, Interval, check
from ..neurflow import Circuit
from ..visualisation import VIEW_SETTINGS
from ._assets import esm
from ._feature import FEATURE_STEPS, ShowsFeatures, feature_settings, feature_snapshot, request_features
from ._live import LiveRunner
from ._standalone import Drawing, StandsAlone
from ._static import StaticFallback, line, table
from ._status import StatusLine
from .payloads import Record, Thumbnails
from .payloads.circuit_view import (
    CircuitGraph,
    DebugView,
    GroupDetails,
    circuit_graph,
    debug_view,
    group_details,
)

NO_IMAGE = -1


class CircuitDrawing(ShowsFeatures, Drawing):
    _esm = esm("js/circuit_view.js")
    graph = Record(CircuitGraph).tag(sync=True)
    selected = traitlets.Unicode("").tag(sync=True)
    details = Record(GroupDetails).tag(sync=True)
    thumbnails = Record(Thumbnails).tag(sync=True)
    debug = Record(DebugView).tag(sync=True)
    debug_image = Record(Thumbnails).tag(sync=True)


class CircuitView(StaticFallback, StandsAlone, w.VBox):
    """``CircuitView(circuit)``: the class circuit, its groups, and image debugging.

    A clicked group shows its crops, links and members, then what it looks for: images
    optimised from noise to raise its log-barrier score (``visualise``, ``feature_steps``
    steps; 0: none; ``feature_options``: ``visualise``'s other arguments), beside the group's
    threshold, above which a crop shows it.

    The image box, the "misclassified" drop-down and the debug panel always name the same
    image: picking one in either control (or calling :meth:`debug`) moves the other.
    """

    #: The constructor's declared constraints; ``debounce`` is the live runner's ``DEBOUNCE``.
    constraints: ClassVar[dict[str, Constraint]] = {
        "crops_per_group": Interval(int, 1, meaning="crops shown for a clicked group"),
        "feature_steps": FEATURE_STEPS,
    }

    def __init__(
        self, circuit: Circuit, crops_per_group: int = 8, debounce: float = 0.0, feature_steps: int = VIEW_SETTINGS["steps"],
        feature_options: dict[str, Any] | None = None,
    ) -> None:
        if not isinstance(circuit, Circuit):
            raise TypeError(f"CircuitView needs a Circuit from build_circuit, got {type(circuit).__name__}")
        self.crops_per_group = check("crops_per_group", crops_per_group, self.constraints["crops_per_group"])
        self.features = feature_settings(feature_steps, feature_options)
        self.circuit = circuit
        self.analysis = analysis = circuit.analysis
        predicted, labels, names = analysis.predictions.classes, analysis.labels, analysis.data.class_names
        wrong = np.flatnonzero(predicted != labels)
        options = [("—", NO_IMAGE)] + [
            (f"#{i}: {names[labels[i]]} predicted {names[predicted[i]]}", int(i)) for i in wrong[:200]
        ]
        wide = {"description_width": "initial"}
        self.misclassified = w.Dropdown(options=options, value=NO_IMAGE, description="misclassified", style=wide)
        self.image_index = w.BoundedIntText(value=0, min=0, max=len(analysis.data) - 1, description="image #", style=wide,
                                            layout=w.Layout(width="150px"))
        self.debug_button = w.Button(description="debug this image", icon="search", layout=w.Layout(width="auto"))
        self.layer = w.Dropdown(options=circuit.layers, value=circuit.layers[0], description="layer", style=wide)
        self.status = StatusLine("circuit-status")
        self.drawing = CircuitDrawing(graph=circuit_graph(circuit))
        self._live = LiveRunner(self.status, debounce=debounce)
        self._syncing = False
        self.drawing.observe(lambda change: self._open(change["new"]), names="selected")
        self.misclassified.observe(self._on_misclassified, names="value")
        self.layer.observe(lambda _change: self._redebug(), names="value")
        self.debug_button.on_click(lambda _b: self.debug(int(self.image_index.value)))
        controls = w.HBox([self.misclassified, self.image_index, self.layer, self.debug_button])
        super().__init__([controls, self.status, self.drawing])
        self._live.announce("idle", f"circuit of class {circuit.class_name}: {len(circuit.groups)} groups; click a group")

    def select(self, group: str) -> None:
        """Select a group as a click does."""
        self.drawing.selected = group

    def _open(self, group_id: str) -> None:
        if not group_id:
            return

        def apply(result: tuple[GroupDetails, Thumbnails]) -> str:
            details, thumbnails = result
            with self.drawing.hold_sync():
                self.drawing.details = details
                self.drawing.thumbnails = thumbnails
            threshold = next(g.threshold for g in self.circuit.groups if g.id == group_id)
            request_features(
                self._live, self.drawing, self.analysis, (self.circuit, group_id), f"group {group_id}", details.owner,
                self.features, threshold, "a crop shows the group above",
            )
            return f"group {group_id}: {len(details.members)} neuron concepts"

        def clear() -> None:
            with self.drawing.hold_sync():
                self.drawing.details, self.drawing.thumbnails = {}, {}
                self.drawing.feature, self.drawing.feature_pictures = {}, {}

        self._live.submit(
            "group", f"loading group {group_id} …", lambda job: group_details(self.circuit, group_id, self.crops_per_group),
            apply, cancels=("feature",), on_error=clear,
        )

    # ---------------------------------------------------------------- debug
    def _on_misclassified(self, change: dict) -> None:
        if not self._syncing and change["new"] != NO_IMAGE:
            self.debug(change["new"])

    def _redebug(self) -> None:
        if self.drawing.debug:
            self.debug(self.drawing.debug["image"])

    def debug(self, image: int) -> None:
        """Show which groups of the chosen layer probe image ``image`` lights, and where (as the
        button does); the image box and the drop-down move to it."""
        n = len(self.analysis.data)
        if isinstance(image, bool) or not isinstance(image, (int, np.integer)) or not 0 <= image < n:
            raise ValueError(f"image must be a probe image index in 0..{n - 1}, got {image!r}")
        layer = self.layer.value
        self._syncing = True
        try:
            self.image_index.value = int(image)
            known = {value for _, value in self.misclassified.options}
            self.misclassified.value = int(image) if image in known else NO_IMAGE
        finally:
            self._syncing = False

        def apply(result: tuple[DebugView, Thumbnails]) -> str:
            view, picture = result
            with self.drawing.hold_sync():
                self.drawing.debug = view
                self.drawing.debug_image = picture
            lit = sum(m.lit for m in view.matches)
            return f"image {view.caption} lights {lit} of {len(view.matches)} groups in {layer}"

        def clear() -> None:
            with self.drawing.hold_sync():
                self.drawing.debug, self.drawing.debug_image = {}, {}

        self._live.submit(
            "debug", f"scoring image #{image} against the groups of {layer} …",
            lambda job: debug_view(self.circuit, image, layer), apply, on_error=clear,
        )

    def snapshot_parts(self) -> list[str]:
        """The view as static HTML (widgets/_static.py): the groups layer by layer with
        their fills, which the debugged image lights, and the opened group with what it looks
        for, from the view's records."""
        graph, debug, details = self.drawing.graph, self.drawing.debug, self.drawing.details
        parts = []
        if debug:
            parts.append(line(f"in {debug['layer']}, {debug['rule']}"))
        if graph:
            lit = {m["group"]: m["lit"] for m in debug["matches"]} if debug else {}
            parts.append(table(
                "the groups", ["group", "layer", "concepts", "label", "the image lights it"],
                [(n["id"], n["layer"], n["size"], n["label"] or "none",
                  "–" if not debug or debug["layer"] != n["layer"] else ("yes" if lit.get(n["id"]) else "no")) for n in graph["nodes"]],
                swatches=[n["fill"] for n in graph["nodes"]],
            ))
        if details:
            label = f" · {details['label']}" if details["label"] else ""
            parts.append(line(f"{details['id']}{label}: {len(details['members'])} neuron concepts", bold=True))
            parts.append(feature_snapshot(self.drawing, details["owner"]))
        return parts

    def wait(self, timeout: float = 120.0) -> None:
        """Block until pending computations are done and shown (for scripts and tests)."""
        self._live.wait(timeout)
