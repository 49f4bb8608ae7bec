"""MisclassificationDebugger: which errors the model makes, which units push it to them,
and what switching those units off fixes and costs.

The widget is a view over the core's ``Analysis.confusions``, ``diagnose`` and
``intervene``; it holds UI state only.
"""

from __future__ import annotations

from typing import ClassVar

import ipywidgets as w
import traitlets

from .._validation import Constraint, Interval, check
from ..analysis import Analysis
from ..debugging import Diagnosis, Intervention, diagnose, intervene
from ..neurflow import Circuit
from ._assets import esm
from ._controls import CommunityControls
from ._live import Job, LiveRunner
from ._standalone import Drawing, StandsAlone
from ._static import StaticFallback, line, number, table
from ._status import StatusLine
from .payloads import Record, Thumbnails
from .payloads.debugger_view import (
    ConfusionTable,
    DiagnosisView,
    ErrorGrid,
    InterventionView,
    confusion_table,
    diagnosis_view,
    error_grid,
    intervention_view,
)

WHOLE_CONFUSION = -1


class DebuggerDrawing(Drawing):
    """The drawing: confusion table, the chosen confusion's images, ranked units, intervention.

    The front end sets ``cell`` ([true, predicted]), ``image`` (a probe image of the
    confusion, -1 for all of it) and ``ablate`` (names of the units switched off)."""

    _esm = esm("js/debugger_view.js")
    table = Record(ConfusionTable).tag(sync=True)
    cell = traitlets.List(traitlets.Int(), default_value=[], maxlen=2).tag(sync=True)
    errors = Record(ErrorGrid).tag(sync=True)
    error_thumbnails = Record(Thumbnails).tag(sync=True)
    image = traitlets.Int(WHOLE_CONFUSION, min=WHOLE_CONFUSION).tag(sync=True)
    diagnosis = Record(DiagnosisView).tag(sync=True)
    thumbnails = Record(Thumbnails).tag(sync=True)
    ablate = traitlets.List(traitlets.Unicode(), default_value=[]).tag(sync=True)
    intervention = Record(InterventionView).tag(sync=True)


class MisclassificationDebugger(StaticFallback, StandsAlone, w.VBox):
    """``MisclassificationDebugger(an)``: click a cell of the confusion table to rank the
    units (communities of the chosen layer, or the groups of ``circuit``) by their
    contrastive contribution to that confusion; click one of its images to see each
    unit's attribution and receptive field on it; toggle "ablate" on units to switch them
    off together and see the share of the confusion's errors fixed and what it costs on
    the other images, per class.

    Parameters
    ----------
    analysis : Analysis
        The analysis of the model and its probe images.
    layer : str, optional
        The layer whose units are ranked first. Default: the last selected layer (with a
        circuit, its first layer that the analysis selects).
    circuit : Circuit, optional
        Rank this circuit's groups instead of communities (the community controls are off).
    method : str
        The community method shown first (``"louvain"``, ``"leiden"``,
        ``"agglomerative"``, ``"spectral"``); its controls are CommunityExplorer's.
    units_shown : int
        The best units shown.
    top_k : int
        Top images shown per unit.
    images_shown : int
        The confusion's images shown in the grid.
    mode : {"zero", "mean"}
        What replaces the outputs of switched-off units first; the "switch off to" buttons
        change it.
    debounce : float
        Seconds of quiet a slider move or a toggle waits for.
    """

    #: The constructor's declared constraints: ``mode`` is the probe's ablation mode (the
    #: "switch off to" buttons offer its values) and ``top_k`` is ``diagnose``'s, which it
    #: goes to; ``debounce`` is the live runner's ``DEBOUNCE``.
    constraints: ClassVar[dict[str, Constraint]] = {
        "units_shown": Interval(int, 1, meaning="units shown"),
        "top_k": diagnose.constraints["top_k"],
        "images_shown": Interval(int, 1, meaning="images of the confusion shown"),
        "mode": Analysis.ablate_many.constraints["mode"],
    }

    def __init__(
        self,
        analysis: Analysis,
        layer: str | None = None,
        circuit: Circuit | None = None,
        method: str = "louvain",
        units_shown: int = 6,
        top_k: int = 6,
        images_shown: int = 24,
        mode: str = "zero",
        debounce: float = 0.15,
    ) -> None:
        if not isinstance(analysis, Analysis):
            raise TypeError(f"MisclassificationDebugger needs an Analysis, got {type(analysis).__name__}")
        if circuit is not None and not isinstance(circuit, Circuit):
            raise TypeError(f"circuit must be a Circuit from build_circuit, got {type(circuit).__name__}")
        if circuit is not None and circuit.analysis is not analysis:
            raise ValueError("the circuit was built on another Analysis; pass the one it was built on")
        declared = self.constraints
        mode = check("mode", mode, declared["mode"])
        self.analysis, self.circuit = analysis, circuit
        self.units_shown = check("units_shown", units_shown, declared["units_shown"])
        self.top_k = check("top_k", top_k, declared["top_k"])
        self.images_shown = check("images_shown", images_shown, declared["images_shown"])
        layers = analysis.layers if circuit is None else [l for l in circuit.layers if l in analysis.layers]
        if not layers:
            raise ValueError(
                f"none of the circuit's layers {circuit.layers} is selected in the analysis ({analysis.layers}); "
                "select them in Analysis(..., layers=...)"
            )
        if layer is not None and layer not in layers:
            raise ValueError(f"layer {layer!r} is not one of {', '.join(layers)}")
        self.diagnosis: Diagnosis | None = None
        self.intervention: Intervention | None = None

        self.layer = w.Dropdown(options=layers, value=layer or layers[-1 if circuit is None else 0], description="layer")
        self.settings = CommunityControls(method, self._request_diagnosis, width="360px")
        self.settings.set_disabled(circuit is not None)
        self.method, self.parameter, self.k, self.min_corr = self.settings.widgets
        self.mode = w.ToggleButtons(options=list(declared["mode"].values), value=mode, description="switch off to",
                                    style={"description_width": "initial", "button_width": "56px"})
        self.status = StatusLine("debugger-status")
        self.drawing = DebuggerDrawing()
        self._live = LiveRunner(self.status, debounce=debounce)
        self._applying = False
        self._title = ""
        self._asked: tuple | None = None  # (true, predicted, layer, method, its parameters)
        self.layer.observe(lambda _change: self._request_diagnosis(), names="value")
        self.mode.observe(lambda _change: self._request_intervention(), names="value")
        self.drawing.observe(lambda _change: self._on_cell(), names="cell")
        self.drawing.observe(lambda _change: self._on_image(), names="image")
        self.drawing.observe(lambda _change: self._request_intervention(), names="ablate")
        controls = w.HBox([w.VBox([self.layer, self.method, self.mode]), w.VBox([self.parameter, self.k, self.min_corr])])
        super().__init__([controls, self.status, self.drawing])
        self._request_table()

    def _set_quietly(self, name: str, value: object) -> None:
        """Set a trait the front end sets, without reacting to it as to a click."""
        self._applying = True
        try:
            setattr(self.drawing, name, value)
        finally:
            self._applying = False

    # ---------------------------------------------------------------- table
    def _request_table(self) -> None:
        def apply(table: ConfusionTable) -> str | None:
            self.drawing.table = table
            errors = self.analysis.confusions().errors
            if not errors:
                return "the model makes no errors on the probe images: nothing to debug"
            if not self.drawing.cell:  # nothing chosen yet: the most frequent confusion
                self.select(*errors[0][:2])
            return None

        self._live.submit("table", "classifying the probe images …", lambda job: confusion_table(self.analysis.confusions()), apply,
                          debounce=False)

    def select(self, true: int | str, predicted: int | str, image: int = WHOLE_CONFUSION) -> None:
        """Open a confusion as a click on its cell does (and one of its images, optionally).

        Parameters
        ----------
        true, predicted : int or str
            The cell's classes, by index or name.
        image : int
            A probe image of the confusion, or -1 for the whole confusion.
        """
        cell = [self.analysis.class_index(true), self.analysis.class_index(predicted)]
        with self.drawing.hold_sync():
            self._set_quietly("image", image)
            if self.drawing.cell == cell:
                self._on_cell()
            self.drawing.cell = cell

    def ablate(self, *units: str) -> None:
        """Switch these units of the diagnosis shown off together, as their "ablate" toggles do
        (none: switch every unit back on).

        Parameters
        ----------
        *units : str
            Unit names, as the diagnosis shows them (e.g. ``"layer3 community 2"``).
        """
        self.drawing.ablate = list(units)

    def _on_cell(self) -> None:
        cell = self.drawing.cell
        if len(cell) != 2:
            return
        true, predicted = cell
        k = len(self.analysis.data.class_names)
        names = self.analysis.data.class_names
        if not (0 <= true < k and 0 <= predicted < k) or true == predicted:
            self._clear_diagnosis()
            self._live.announce("error", f"choose an off-diagonal cell of the {k} x {k} table, got {cell}")
            return
        if not self.analysis.confusions().images(true, predicted).size:
            self._clear_diagnosis()
            self._live.announce("error", f"no image of {names[true]} is predicted {names[predicted]}; click a cell with a count")
            return
        if self.drawing.image != WHOLE_CONFUSION and self.drawing.image not in self.analysis.confusions().images(true, predicted):
            self._set_quietly("image", WHOLE_CONFUSION)
        owner = f"errors {true} {predicted}"

        def apply(result: tuple[ErrorGrid, Thumbnails]) -> None:
            grid, thumbnails = result
            with self.drawing.hold_sync():
                self.drawing.errors, self.drawing.error_thumbnails = grid, thumbnails

        def clear() -> None:
            with self.drawing.hold_sync():
                self.drawing.errors, self.drawing.error_thumbnails = {}, {}

        self._live.submit("grid", f"loading the images of {names[true]} predicted {names[predicted]} …",
                          lambda job: error_grid(self.analysis, true, predicted, self.images_shown, owner), apply,
                          debounce=False, on_error=clear)
        self._request_diagnosis(debounce=False, again=True)

    # ------------------------------------------------------------ diagnosis
    def _clear_diagnosis(self) -> None:
        """Nothing of an older confusion, layer or unit set stays under the controls."""
        self.diagnosis = self.intervention = None
        with self.drawing.hold_sync():
            self.drawing.diagnosis, self.drawing.thumbnails, self.drawing.intervention = {}, {}, {}
            self._set_quietly("ablate", [])

    def _request_diagnosis(self, debounce: bool = True, again: bool = False) -> None:
        """Diagnose the chosen cell with the units the controls say; unless ``again``, only
        when that changed (the browser's slider sends back 1.0000000000000002 for 1.0)."""
        if len(self.drawing.cell) != 2:
            return
        (true, predicted), layer = self.drawing.cell, self.layer.value
        names = self.analysis.data.class_names
        method, params = self.method.value, self.settings.current_params()
        asked = (true, predicted, layer, method, tuple(sorted(params.items())))
        if asked == self._asked and not again:
            return
        self._asked = asked
        self._clear_diagnosis()
        if self.circuit is None:
            what, units = f"{layer} communities ({self.settings.describe()})", None
        else:
            what, units = f"{layer} groups of the {self.circuit.class_name} circuit", self.circuit
        title = f"{what} pushing {names[true]} to {names[predicted]}"

        def compute(job: Job) -> Diagnosis:
            communities = None
            if units is None:
                communities = self.analysis.communities(layer, method, stability_runs=0, **params)
            return diagnose(
                self.analysis, (true, predicted), layers=layer, units=units if units is not None else "communities",
                communities=communities, top_k=self.top_k, should_stop=job.stale,
                on_progress=lambda done, total: job.say(f"attributing the errors to {what} … {done / total:.0%}"),
            )

        def apply(diagnosis: Diagnosis) -> str:
            self.diagnosis = diagnosis
            self._show_diagnosis(title)
            best = diagnosis.units[0]
            return (f"{len(diagnosis.errors)} errors, {len(diagnosis.units)} units ranked; best {best.name} "
                    f"evidence {diagnosis.evidence[0]:+.3f}; toggle ablate to switch units off")

        self._title = title
        self._live.submit("diagnosis", f"attributing the errors to {what} …", compute, apply,
                          cancels=("intervention", "view"), debounce=debounce, on_error=self._clear_diagnosis)

    def _owner(self, image: int) -> str:
        """Whose pictures: the newest diagnosis, drawn on ``image``."""
        return f"diagnosis {self._live.latest('diagnosis')} image {image}"

    def _show_diagnosis(self, title: str) -> None:
        image = self.drawing.image
        view, thumbnails = diagnosis_view(
            self.analysis, self.diagnosis, image, self.units_shown, self.top_k, title, self._owner(image)
        )
        with self.drawing.hold_sync():
            self.drawing.diagnosis, self.drawing.thumbnails = view, thumbnails

    def _on_image(self) -> None:
        image = self.drawing.image
        if self._applying or self.diagnosis is None or self._live.pending("diagnosis"):
            return  # a diagnosis under way reads the image when it is shown
        if image != WHOLE_CONFUSION and image not in self.diagnosis.errors:
            self._live.announce("error", f"image {image} is not one of this confusion's errors")
            return
        diagnosis, title = self.diagnosis, self._title
        owner = self._owner(image)

        def apply(result: tuple[DiagnosisView, Thumbnails]) -> str:
            view, thumbnails = result
            with self.drawing.hold_sync():
                self.drawing.diagnosis, self.drawing.thumbnails = view, thumbnails
            if self.intervention is not None:
                self.drawing.intervention = intervention_view(self.intervention, image, self.drawing.intervention["owner"])
            return f"units shown on image #{image}" if image != WHOLE_CONFUSION else "units shown on the whole confusion"

        self._live.submit(
            "view", f"drawing the units on image #{image} …",
            lambda job: diagnosis_view(self.analysis, diagnosis, image, self.units_shown, self.top_k, title, owner),
            apply, debounce=False,
        )

    # --------------------------------------------------------- intervention
    def _request_intervention(self) -> None:
        if self._applying:
            return
        names = list(self.drawing.ablate)
        diagnosis = self.diagnosis
        self.intervention = None
        self.drawing.intervention = {}
        if diagnosis is None:
            self._live.announce("error", "no units to switch off yet: click a cell of the confusion table")
            return
        by_name = {unit.name: unit for unit in diagnosis.units}
        unknown = [n for n in names if n not in by_name]
        if unknown:
            self._live.announce("error", f"no unit named {', '.join(unknown)} in this diagnosis")
            return
        if not names:  # replaces any intervention under way: nothing is switched off now
            self._live.submit("intervention", "no unit switched off", lambda job: None, lambda _none: "no unit switched off", debounce=False)
            return
        mode = self.mode.value
        owner = f"diagnosis {self._live.latest('diagnosis')} ablate {' + '.join(names)} to {mode}"

        def compute(job: Job) -> Intervention:
            return intervene(
                self.analysis, [by_name[n] for n in names], diagnosis.errors, mode, should_stop=job.stale,
                on_progress=lambda done, total: job.say(f"switching off {len(names)} units … {done / total:.0%}"),
            )

        def apply(result: Intervention) -> str:
            self.intervention = result
            view = intervention_view(result, self.drawing.image, owner)
            self.drawing.intervention = view
            return (f"switching off {' + '.join(names)} fixes {view.fixed} of {view.errors} errors; "
                    f"accuracy elsewhere {view.other_accuracy_change:+.3f}")

        self._live.submit("intervention", f"switching off {' + '.join(names)} …", compute, apply,
                          on_error=lambda: setattr(self.drawing, "intervention", {}))

    def snapshot_parts(self) -> list[str]:
        """The view as static HTML (widgets/_static.py): the confusion table, the units
        ranked for the chosen confusion, and what switching units off did, from the view's
        records."""
        t, d, v = self.drawing.table, self.drawing.diagnosis, self.drawing.intervention
        parts = []
        if t:
            names = t["class_names"]
            parts.append(table(
                f"Confusions (accuracy {100 * t['accuracy']:.1f}%): rows true, columns predicted",
                ["true \\ predicted", *names], [(name, *row) for name, row in zip(names, t["counts"])],
            ))
        if d:
            parts.append(table(
                d["title"], ["unit", "neurons", "concept label", "evidence", "contribution", "mean on the errors", "mean on the reference"],
                [(u["name"], u["neurons"], u["label"] or "no concept label", number(u["evidence"]), number(u["contribution"]),
                  number(u["on_errors"]), number(u["on_reference"])) for u in d["units"]],
            ))
        if v:
            parts.append(line(
                f"Switching off {' + '.join(v['units'])} fixes {v['fixed']} of {v['errors']} errors ({100 * v['fix_rate']:.1f}%); "
                f"cost: accuracy on the other images {number(100 * v['other_accuracy_change'], 1)} points", bold=True,
            ))
        return parts

    def wait(self, timeout: float = 120.0) -> None:
        """Block until pending computations are done and shown (for scripts and tests)."""
        self._live.wait(timeout)
