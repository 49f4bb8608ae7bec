"""CriticalNeuronsView: NeuCEPT's FDR-controlled selection, its stability, and the mechanisms it reveals."""

from __future__ import annotations

from typing import ClassVar

import ipywidgets as w

from .._validation import Constraint, Interval, check
from ..analysis import Analysis
from ..neucept import (
    CriticalNeurons,
    ablation_comparison,
    critical_neurons,
    evaluate_mechanisms,
    mechanisms,
)
from ._assets import esm
from ._live import Job, LiveRunner
from ._standalone import Drawing, StandsAlone
from ._static import StaticFallback, line, table
from ._status import StatusLine
from .payloads import Record, Thumbnails
from .payloads.critical_view import CriticalSelection, MechanismsView, critical_selection, mechanism_views


class CriticalDrawing(Drawing):
    _esm = esm("js/critical_view.js")
    selection = Record(CriticalSelection).tag(sync=True)
    mechanisms = Record(MechanismsView).tag(sync=True)
    thumbnails = Record(Thumbnails).tag(sync=True)


class CriticalNeuronsView(StaticFallback, StandsAlone, w.VBox):
    """``CriticalNeuronsView(an)``: pick a layer and a class; move the FDR slider (instant);
    see the selected neurons with their W and selection frequency over knockoff runs, the
    mechanisms (clusters of the class's images, shown by their most typical images) and how
    they compare with random and saliency-ranked neuron sets of the same size on a sub-label
    concept."""

    #: The constructor's declared constraints: ``runs`` is ``critical_neurons``', which it goes
    #: to; ``debounce`` is the live runner's ``DEBOUNCE``.
    constraints: ClassVar[dict[str, Constraint]] = {
        "runs": critical_neurons.constraints["runs"],
        "images_per_mechanism": Interval(int, 1, meaning="images shown per mechanism"),
    }

    def __init__(self, analysis: Analysis, layer: str | None = None, target_class: int | str = 0,
                 concept: str | None = None, runs: int = 10, images_per_mechanism: int = 8, debounce: float = 0.1) -> None:
        if not isinstance(analysis, Analysis):
            raise TypeError(f"CriticalNeuronsView needs an Analysis, got {type(analysis).__name__}")
        self.analysis = analysis
        self.runs = check("runs", runs, self.constraints["runs"])
        self.images_per_mechanism = check("images_per_mechanism", images_per_mechanism, self.constraints["images_per_mechanism"])
        concepts = list(analysis.data.concepts)
        if concept is not None and concept not in concepts:
            raise ValueError(f"the data has no concept {concept!r}; it has {', '.join(concepts) or 'none'}")
        self.critical: CriticalNeurons | None = None
        wide = {"description_width": "initial"}
        self.layer = w.Dropdown(options=analysis.layers, value=layer or analysis.layers[-1], description="layer")
        self.target = w.Dropdown(options=analysis.data.class_names,
                                 value=analysis.data.class_names[analysis.class_index(target_class)], description="class")
        self.fdr = w.FloatSlider(value=0.1, min=0.01, max=0.5, step=0.01, description="FDR q", continuous_update=True, style=wide)
        self.concept = w.Dropdown(options=["—", *concepts], value=concept or (concepts[0] if concepts else "—"),
                                  description="sub-label", style=wide)
        self.status = StatusLine("critical-status")
        self.drawing = CriticalDrawing()
        self._live = LiveRunner(self.status, debounce=debounce)
        for control in (self.layer, self.target):
            control.observe(lambda _c: self._refit(), names="value")
        self.fdr.observe(lambda _c: self._rethreshold(), names="value")
        self.concept.observe(lambda _c: self._rethreshold(), names="value")
        super().__init__([w.HBox([self.layer, self.target, self.fdr, self.concept]), self.status, self.drawing])
        self._refit()

    def _clear(self) -> None:
        """Nothing of an older layer or class stays under the controls."""
        with self.drawing.hold_sync():
            self.drawing.selection, self.drawing.mechanisms, self.drawing.thumbnails = {}, {}, {}

    def _refit(self) -> None:
        layer, target = self.layer.value, self.target.value
        self.critical = None
        self._clear()

        def compute(job: Job) -> CriticalNeurons:
            return critical_neurons(self.analysis, layer, target, fdr=float(self.fdr.value), runs=self.runs)

        def apply(result: CriticalNeurons) -> None:
            self.critical = result
            self._rethreshold()

        self._live.submit(
            "fit", f"fitting knockoffs for {layer}, class {target} ({self.runs} runs) …", compute, apply,
            cancels=("mechanisms",), on_error=self._clear,
        )

    def _rethreshold(self) -> None:
        """Instant: the stored statistics at the slider's FDR; the mechanisms follow off the
        kernel's thread. Waits for a refit that is under way (its result reads the slider)."""
        if self.critical is None:
            return
        critical = self.critical = self.critical.at(float(self.fdr.value))
        selected = critical.selected
        self.drawing.selection = critical_selection(critical)
        if selected.size == 0:
            self._live.cancel("mechanisms")  # those of an earlier FDR must not land under this one
            with self.drawing.hold_sync():
                self.drawing.mechanisms, self.drawing.thumbnails = {}, {}
            self._live.announce(
                "idle", f"no neuron of {critical.layer} is selected at FDR {critical.fdr:.2f}: {critical.why_none}"
            )
            return
        concept = self.concept.value
        owner = f"{critical.layer} {critical.class_name} fdr {critical.fdr:.4f} {concept}"
        analysis = self.analysis

        def compute(job: Job) -> tuple[MechanismsView, Thumbnails]:
            found = mechanisms(analysis, critical)
            truth = analysis.data.concepts.get(concept) if concept != "—" else None
            shown, thumbnails = mechanism_views(analysis, found, self.images_per_mechanism, truth, owner)
            report = None
            if truth is not None:
                report = evaluate_mechanisms(analysis, critical, found, concept, should_stop=job.stale).to_dict()
            ablation = ablation_comparison(analysis, critical, should_stop=job.stale)
            return MechanismsView(owner, found.k, shown, report, ablation), thumbnails

        def apply(result: tuple[MechanismsView, Thumbnails]) -> str:
            view, thumbnails = result
            with self.drawing.hold_sync():
                self.drawing.mechanisms = view
                self.drawing.thumbnails = thumbnails
            return f"{selected.size} critical neurons at FDR {critical.fdr:.2f}; {view.k} mechanisms"

        def clear() -> None:
            with self.drawing.hold_sync():
                self.drawing.mechanisms, self.drawing.thumbnails = {}, {}

        self._live.submit(
            "mechanisms", f"{selected.size} critical neurons; clustering the class's images …", compute, apply,
            on_error=clear,
        )

    def snapshot_parts(self) -> list[str]:
        """The view as static HTML (widgets/_static.py): the critical neurons at the FDR
        shown, the mechanisms found, and the ablation comparison, from the view's records."""
        s, m = self.drawing.selection, self.drawing.mechanisms
        parts = []
        if s:
            parts.append(table(
                f'{len(s["neurons"])} critical neurons of {s["layer"]} for "{s["class_name"]}" at FDR {s["fdr"]:.2f}',
                ["neuron", "W", "selected in runs"],
                [(n["neuron"], f'{n["w"]:.3f}', f'{round(100 * n["frequency"])}%') for n in s["neurons"]],
            ))
        if m:
            parts.append(line(f'{m["k"]} mechanisms', bold=True))
            parts += [line(f"Mechanism {i}: {mech['size']} images" + (f" · {mech['dominant']}" if mech["dominant"] else ""))
                      for i, mech in enumerate(m["mechanisms"])]
            a = m["ablation"]
            if a:
                parts.append(line(
                    f"Zeroing the {a['neurons']} critical neurons drops the class's accuracy by {a['critical']:.3f}; "
                    f"as many random neurons {a['random']:.3f} ± {a['random_std']:.3f}, the most salient {a['saliency']:.3f}"
                ))
        return parts

    def wait(self, timeout: float = 120.0) -> None:
        """Block until pending computations are done and shown (for scripts and tests)."""
        self._live.wait(timeout)
