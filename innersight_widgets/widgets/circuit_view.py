"""CircuitView: NeurFlow's circuit of a class as a layered graph of concept groups.

Click a group for its representative crops, label, strongest inputs and outputs; pick an
image (a misclassified one, say) to see which groups it triggers and where.
"""

from __future__ import annotations


import anywidget
import ipywidgets as w
import numpy as np
import traitlets

from ..core import Circuit
from ._assets import asset
from ._checks import positive_int
from ._images import to_png
from ._status import StatusLine


class CircuitDrawing(anywidget.AnyWidget):
    _esm = asset("js/circuit_view.js")
    graph = traitlets.Dict().tag(sync=True)
    selected = traitlets.Unicode("").tag(sync=True)
    details = traitlets.Dict().tag(sync=True)
    thumbnails = traitlets.List(traitlets.Bytes()).tag(sync=True)
    debug = traitlets.Dict().tag(sync=True)
    debug_image = traitlets.Bytes(b"").tag(sync=True)


class CircuitView(w.VBox):
    """``CircuitView(circuit)``: the class circuit, its groups, and image debugging."""

    def __init__(self, circuit: Circuit, crops_per_group: int = 8) -> None:
        if not isinstance(circuit, Circuit):
            raise TypeError(f"CircuitView needs a Circuit from build_circuit, got {type(circuit).__name__}")
        self.crops_per_group = positive_int("crops_per_group", crops_per_group, "crops shown for a clicked group")
        self.circuit = circuit
        self.analysis = circuit.analysis
        an = self.analysis
        predicted = an.predictions.classes
        labels = an.labels
        names = an.data.class_names
        wrong = np.flatnonzero(predicted != labels)
        options = [("—", -1)] + [
            (f"#{i}: {names[labels[i]]} predicted {names[predicted[i]]}", int(i)) for i in wrong[:200]
        ]
        self.misclassified = w.Dropdown(options=options, value=-1, description="misclassified")
        self.image_index = w.BoundedIntText(value=0, min=0, max=len(an.data) - 1, description="image #")
        self.debug_button = w.Button(description="debug this image", icon="search")
        self.layer = w.Dropdown(options=circuit.layers, value=circuit.layers[0], description="layer")
        self.status = StatusLine("circuit-status")
        self.drawing = CircuitDrawing(graph=self._graph_payload())
        self.drawing.observe(self._on_select, names="selected")
        self.misclassified.observe(self._on_misclassified, names="value")
        self.debug_button.on_click(lambda _b: self.debug(int(self.image_index.value)))
        controls = w.HBox([self.misclassified, self.image_index, self.layer, self.debug_button])
        super().__init__([controls, self.status, self.drawing])
        self.status.show("idle", f"circuit of class {circuit.class_name}: {len(circuit.groups)} groups; click a group")

    # ---------------------------------------------------------------- graph
    def _graph_payload(self) -> dict:
        graph = self.circuit.graph()
        levels = ["logit", *self.circuit.layers]
        nodes = []
        for level_index, level in enumerate(levels):
            ids = [n for n, d in graph.nodes(data=True) if d["layer"] == level]
            for i, node in enumerate(ids):
                d = graph.nodes[node]
                nodes.append({
                    "id": node, "layer": level, "level": level_index, "size": d["size"],
                    "label": d["label"], "share": round(d["share"], 2),
                    "x": (i + 1) / (len(ids) + 1), "y": level_index / max(1, len(levels) - 1),
                })
        edges = [{"a": a, "b": b, "w": round(d["weight"], 4)} for a, b, d in graph.edges(data=True)]
        return {"nodes": nodes, "edges": edges, "levels": ["class " + self.circuit.class_name, *self.circuit.layers]}

    def select(self, group: str) -> None:
        """Select a group as a click does."""
        self.drawing.selected = group

    def _on_select(self, change: dict) -> None:
        try:
            group_id = change["new"]
            if not group_id:
                return
            groups = {g.id: g for g in self.circuit.groups}
            if group_id not in groups:
                raise ValueError(f"there is no group {group_id!r} in this circuit")
            group = groups[group_id]
            crops = group.crops[: self.crops_per_group]
            thumbnails = [to_png(self.circuit.crop_image(c)) for c in crops]
            graph = self.circuit.graph()
            inputs = sorted(((d["weight"], a) for a, _, d in graph.in_edges(group_id, data=True)), reverse=True)
            outputs = sorted(((d["weight"], b) for _, b, d in graph.out_edges(group_id, data=True)), reverse=True)
            with self.drawing.hold_sync():
                self.drawing.thumbnails = thumbnails
                self.drawing.details = {
                    "id": group.id,
                    "layer": group.layer,
                    "label": group.label,
                    "members": [f"{group.layer}:{n} concept {k}" for n, k in group.members],
                    "crops": [{"crop": int(c), "image": int(self.circuit.crops[c][0])} for c in crops],
                    "inputs": [{"group": g, "weight": round(wt, 4)} for wt, g in inputs[:5]],
                    "outputs": [{"group": g, "weight": round(wt, 4)} for wt, g in outputs[:5]],
                }
            self.status.show("idle", f"group {group_id}: {len(group.members)} neuron concepts")
        except Exception as exc:  # shown in the status line, kept in last_error
            self.status.error(exc)

    # ---------------------------------------------------------------- debug
    def _on_misclassified(self, change: dict) -> None:
        if change["new"] >= 0:
            self.image_index.value = change["new"]
            self.debug(change["new"])

    def debug(self, image: int) -> None:
        """Show which groups of the chosen layer ``image`` triggers, and where (as the button does)."""
        try:
            an = self.analysis
            layer = self.layer.value
            matches = self.circuit.debug_image(image, layer)
            names = an.data.class_names
            truth, predicted = names[int(an.labels[image])], names[int(an.predictions.classes[image])]
            with self.drawing.hold_sync():
                self.drawing.debug_image = to_png(an.images([image])[0], size=192)
                self.drawing.debug = {
                    "image": int(image),
                    "layer": layer,
                    "size": list(an.data.image_shape[-2:]),
                    "caption": f"#{image}: {truth}, predicted {predicted}",
                    "matches": [
                        {"group": m["group"], "best": round(m["best"], 3), "crops": m["crops"][:5]} for m in matches
                    ],
                }
            triggered = [m["group"] for m in matches if m["crops"]]
            self.status.show(
                "idle", f"image #{image} ({truth}, predicted {predicted}) triggers {len(triggered)} of {len(matches)} groups in {layer}"
            )
        except Exception as exc:  # shown in the status line, kept in last_error
            self.status.error(exc)


