"""CriticalNeuronsView: NeuCEPT's FDR-controlled selection, its stability, and the mechanisms it reveals."""

from __future__ import annotations

from typing import Any

import anywidget
import ipywidgets as w
import numpy as np
import traitlets

from ..core import Analysis
from ..core.critical import CriticalNeurons, ablation_comparison, critical_neurons, evaluate_mechanisms, mechanisms
from ._assets import asset
from ._checks import positive_int
from ._images import to_png
from ._live import LiveRunner
from ._status import StatusLine


class CriticalDrawing(anywidget.AnyWidget):
    _esm = asset("js/critical_view.js")
    selection = traitlets.Dict().tag(sync=True)
    mechanisms = traitlets.Dict().tag(sync=True)
    thumbnails = traitlets.List(traitlets.Bytes()).tag(sync=True)


class CriticalNeuronsView(w.VBox):
    """``CriticalNeuronsView(an)``: pick a layer and a class; move the FDR slider (instant);
    see the selected neurons with their W and selection frequency over knockoff runs, the
    mechanisms (clusters of the class's images) and how they compare with random and
    saliency-ranked neuron sets of the same size on a sub-label concept."""

    def __init__(self, analysis: Analysis, layer: str | None = None, target_class: int | str = 0,
                 concept: str | None = None, runs: int = 10, images_per_mechanism: int = 8, debounce: float = 0.1) -> None:
        if not isinstance(analysis, Analysis):
            raise TypeError(f"CriticalNeuronsView needs an Analysis, got {type(analysis).__name__}")
        self.analysis = analysis
        self.runs = positive_int("runs", runs, "knockoff runs, each with fresh knockoffs")
        self.images_per_mechanism = positive_int("images_per_mechanism", images_per_mechanism, "images shown per mechanism")
        self.critical: CriticalNeurons | None = None
        self._live = LiveRunner(lambda _channel, exc: self.status.error(exc), debounce=debounce)
        concepts = list(analysis.data.concepts)
        self.layer = w.Dropdown(options=analysis.layers, value=layer or analysis.layers[-1], description="layer")
        self.target = w.Dropdown(options=analysis.data.class_names,
                                 value=analysis.data.class_names[analysis.class_index(target_class)], description="class")
        self.fdr = w.FloatSlider(value=0.1, min=0.01, max=0.5, step=0.01, description="FDR q", continuous_update=True)
        self.concept = w.Dropdown(options=["—", *concepts], value=concept or (concepts[0] if concepts else "—"),
                                  description="sub-label")
        self.status = StatusLine("critical-status")
        self.drawing = CriticalDrawing()
        for control in (self.layer, self.target):
            control.observe(lambda _c: self._refit(), names="value")
        self.fdr.observe(lambda _c: self._rethreshold(), names="value")
        self.concept.observe(lambda _c: self._rethreshold(), names="value")
        super().__init__([w.HBox([self.layer, self.target, self.fdr, self.concept]), self.status, self.drawing])
        self._refit()

    def _refit(self) -> None:
        layer, target = self.layer.value, self.target.value
        self.status.show("busy", f"fitting knockoffs for {layer}, class {target} ({self.runs} runs) …")

        def compute(_stale: Any) -> CriticalNeurons:
            return critical_neurons(self.analysis, layer, target, fdr=float(self.fdr.value), runs=self.runs)

        def apply(result: CriticalNeurons) -> None:
            self.critical = result
            self._rethreshold()

        self._live.submit("fit", compute, apply)

    def _rethreshold(self) -> None:
        """Instant: the stored statistics at the new FDR; the mechanisms follow off the UI thread."""
        if self.critical is None:
            return
        critical = self.critical.at(float(self.fdr.value))
        self.critical = critical
        selected = critical.selected
        frequency = critical.frequency
        self.drawing.selection = {
            "layer": critical.layer, "class": critical.class_name, "fdr": critical.fdr,
            "threshold": None if not np.isfinite(critical.threshold) else critical.threshold,
            "neurons": [{"neuron": int(j), "w": round(float(critical.w[0, j]), 4), "frequency": round(float(frequency[j]), 2)}
                        for j in selected[np.argsort(-critical.w[0, selected])]],
            "set_aside": int(critical.set_aside.sum()), "no_power_runs": critical.no_power_runs,
        }
        if selected.size == 0:
            self.drawing.mechanisms, self.drawing.thumbnails = {}, []
            self.status.show("idle", f"no neuron of {critical.layer} is selected at FDR {critical.fdr:.2f}")
            return
        self.status.show("busy", f"{selected.size} critical neurons; clustering the class's images …")
        concept = self.concept.value

        def compute(_stale: Any) -> tuple[dict, list[bytes]]:
            found = mechanisms(self.analysis, critical)
            payload: dict[str, Any] = {"k": found.k, "mechanisms": []}
            thumbnails: list[bytes] = []
            truth = self.analysis.data.concepts.get(concept) if concept != "—" else None
            for m in range(found.k):
                members = found.members(m)
                shown = members[: self.images_per_mechanism]
                thumbnails += [to_png(image) for image in self.analysis.images(shown)]
                entry = {"size": int(members.size), "images": [int(i) for i in shown]}
                if truth is not None:
                    values, counts = np.unique(truth.values[members], return_counts=True)
                    entry["dominant"] = f"{truth.names[int(values[counts.argmax()])]} ({counts.max() / members.size:.0%})"
                payload["mechanisms"].append(entry)
            if truth is not None:
                payload["report"] = evaluate_mechanisms(self.analysis, critical, found, concept).to_dict()
            payload["ablation"] = ablation_comparison(self.analysis, critical)
            return payload, thumbnails

        def apply(result: tuple[dict, list[bytes]]) -> None:
            payload, thumbnails = result
            with self.drawing.hold_sync():
                self.drawing.mechanisms = payload
                self.drawing.thumbnails = thumbnails
            self.status.show("idle", f"{selected.size} critical neurons at FDR {critical.fdr:.2f}; {payload['k']} mechanisms")

        self._live.submit("mechanisms", compute, apply)

    def wait(self, timeout: float = 120.0) -> None:
        """Block until pending computations are done (for scripts and tests)."""
        self._live.wait(timeout)


