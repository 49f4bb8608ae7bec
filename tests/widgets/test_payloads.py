"""The records the widgets send are the records the front ends read, by name."""

import re
from dataclasses import fields
from pathlib import Path

import pytest
import traitlets

from innersight_widgets.widgets import payloads
from innersight_widgets.widgets._assets import esm
from innersight_widgets.widgets.circuit_view import CircuitDrawing
from innersight_widgets.widgets.community_explorer import CommunityView
from innersight_widgets.widgets.critical_view import CriticalDrawing
from innersight_widgets.widgets.debugger import DebuggerDrawing

JS = Path(__file__).resolve().parents[2] / "js"
READERS = {
    "community_view.js": [payloads.CommunityGraph, payloads.CommunityNode, payloads.Edge, payloads.NeuronPoints,
                          payloads.StabilitySummary, payloads.CommunityDetails, payloads.ConceptScore, payloads.TopImage,
                          payloads.Patch, payloads.ImportanceSummary, payloads.PathwayGraph, payloads.PathwayNode,
                          payloads.PathwayClass],
    "circuit_view.js": [payloads.CircuitGraph, payloads.CircuitNode, payloads.Edge, payloads.GroupDetails,
                        payloads.Link, payloads.CropRef, payloads.DebugView, payloads.GroupMatch],
    "critical_view.js": [payloads.CriticalSelection, payloads.CriticalNeuron, payloads.MechanismsView,
                         payloads.Mechanism, payloads.MechanismImage],
    "debugger_view.js": [payloads.ConfusionTable, payloads.ErrorGrid, payloads.Picture, payloads.DiagnosisView,
                         payloads.UnitRow, payloads.InterventionView, payloads.CandidateFix, payloads.ClassCost],
    "_prelude.js": [payloads.Thumbnails],
}
# Fields Python keeps for other readers (tests, the status line), not drawn.
NOT_DRAWN = {("CommunityNode", "id"), ("CircuitNode", "level"), ("CropRef", "image"), ("GroupDetails", "layer"),
             ("MechanismImage", "index"), ("Patch", "box")}


@pytest.mark.parametrize("module", sorted(READERS))
def test_every_field_is_read_by_its_name_in_the_front_end(module):
    source = (JS / module).read_text()
    for record in READERS[module]:
        for field in fields(record):
            if (record.__name__, field.name) in NOT_DRAWN:
                continue
            assert re.search(rf"\.{field.name}\b|\b{field.name}:|\"{field.name}\"", source), (
                f"{module} never reads {record.__name__}.{field.name}"
            )


def test_each_view_module_starts_with_the_one_shared_prelude():
    prelude = (JS / "_prelude.js").read_text()
    for view in (CommunityView, CircuitDrawing, CriticalDrawing, DebuggerDrawing):
        assert view._esm.startswith(prelude)
        own = view._esm[len(prelude):]
        assert "function el(" not in own and "createObjectURL" not in own  # no copies of the helpers
    assert esm("js/community_view.js").count("function el(") == 1


def test_record_traits_take_their_record_and_refuse_anything_else():
    view = CommunityView()
    view.thumbnails = payloads.Thumbnails("community 1", ["image3"], [b"\x89PNG"])
    assert view.thumbnails == {"owner": "community 1", "ids": ["image3"], "pngs": [b"\x89PNG"]}
    view.thumbnails = {}
    with pytest.raises(traitlets.TraitError, match="Thumbnails record"):
        view.thumbnails = {"owner": "community 1", "pngs": []}
    with pytest.raises(traitlets.TraitError):
        view.details = payloads.Thumbnails("x", [], [])
    with pytest.raises(traitlets.TraitError):
        view.selected = -2


def test_an_importance_summary_keeps_classes_missing_from_the_sample_empty_without_warnings():
    import warnings

    import numpy as np

    from innersight_widgets.innersightnet.report import Importance

    null = np.array([[0.1, np.nan, 0.3], [0.3, np.nan, 0.1]])
    imp = Importance(2, "zero", 50, 0.4, np.array([0.5, np.nan, 0.2]), np.zeros(3), np.array([0.1, 0.2]), null)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        summary = payloads.importance_summary(imp, total_draws=20, probe_images=400)
        empty = payloads.importance_summary(
            Importance(2, "zero", 50, 0.4, np.array([0.5, np.nan, 0.2]), np.zeros(3), np.zeros(0), np.zeros((0, 3))), 20, 400
        )
    assert summary.null_class_mean == [0.2, None, 0.2] and summary.null_class_std == [0.1, None, 0.1]
    assert summary.class_drop == [0.5, None, 0.2] and summary.draws == 2 and summary.images == 50
    assert empty.null_mean is None and empty.null_class_mean == [None, None, None] and empty.p_value is None
