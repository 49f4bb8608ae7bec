"""The records the widgets send are the records the front ends read, field by field: every
field a view's JavaScript reads through a variable annotated with a record's name is a field
of that record in the Python schema (nested records included), and every field of the
schema is read (tests/widgets/_js_reads.py reads the JavaScript)."""

import importlib
import inspect
import pkgutil
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import traitlets
from _js_reads import bindings, fields_read

from innersight_widgets.innersightnet import Importance
from innersight_widgets.widgets import payloads
from innersight_widgets.widgets._assets import esm
from innersight_widgets.widgets.circuit_view import CircuitDrawing
from innersight_widgets.widgets.community_explorer import CommunityView
from innersight_widgets.widgets.critical_view import CriticalDrawing
from innersight_widgets.widgets.debugger import DebuggerDrawing
from innersight_widgets.widgets.model_diff import DiffDrawing
from innersight_widgets.widgets.payloads import Payload, Record, Thumbnails, schema
from innersight_widgets.widgets.payloads._records import FeatureImages
from innersight_widgets.widgets.payloads.community_view import importance_summary

JS = Path(__file__).resolve().parents[2] / "js"
PRELUDE = (JS / "_prelude.js").read_text()
# Each drawing widget and the name of its front-end module (js/<name>.js) and of its records'
# module (payloads/<name>.py).
VIEWS = {"community_view": CommunityView, "circuit_view": CircuitDrawing, "critical_view": CriticalDrawing,
         "debugger_view": DebuggerDrawing, "model_diff": DiffDrawing}
# Fields Python keeps for other readers, not drawn, and why.
NOT_DRAWN = {
    ("PatchImage", "box"): "the thumbnail is already cropped to it",
    ("CircuitNode", "level"): "y places the node; the level's index is for Python's readers",
    ("GroupDetails", "layer"): "the group's id names it; kept for Python's readers",
    ("InterventionView", "owner"): "the debugger reads it back to redraw the view on another image",
}


# The records of payloads/_records.py, which any view may read (the prelude's drawFeature reads
# FeatureImages for the views that show what a unit looks for).
SHARED = {"Edge", "Thumbnails", "FeatureImages"}


def records_of(view: type) -> dict[str, type[Payload]]:
    """The record traits of a drawing widget: trait name to record."""
    return {name: trait.kind for name, trait in view.class_traits(sync=True).items() if isinstance(trait, Record)}


def view_schema(view: type) -> dict[str, dict[str, str]]:
    return schema(*records_of(view).values())


@pytest.mark.parametrize("name", sorted(VIEWS))
def test_every_field_a_view_reads_is_a_field_of_its_record(name):
    view_records = view_schema(VIEWS[name])
    _, wrong = fields_read((JS / f"{name}.js").read_text(), view_records)
    assert not wrong, f"js/{name}.js:\n" + "\n".join(wrong)
    _, wrong = fields_read(PRELUDE, view_records | schema(FeatureImages))
    assert not wrong, "js/_prelude.js:\n" + "\n".join(wrong)


@pytest.mark.parametrize("name", sorted(VIEWS))
def test_every_field_of_a_views_records_is_read_by_the_view(name):
    view_records = view_schema(VIEWS[name])
    read = fields_read((JS / f"{name}.js").read_text(), view_records)[0] | fields_read(PRELUDE, view_records)[0]
    every = {(record, field) for record, its in view_records.items() for field in its}
    unread = sorted(every - read - set(NOT_DRAWN))
    assert not unread, f"js/{name}.js never reads " + ", ".join(f"{r}.{f}" for r, f in unread)
    drawn = sorted(read & set(NOT_DRAWN))
    assert not drawn, f"js/{name}.js reads {drawn}: take them out of NOT_DRAWN"


def test_not_drawn_names_fields_that_exist():
    every = {(r, f) for view in VIEWS.values() for r, its in view_schema(view).items() for f in its}
    assert set(NOT_DRAWN) <= every


@pytest.mark.parametrize("name", sorted(VIEWS))
def test_a_view_reads_only_its_widgets_traits_and_each_record_trait_as_its_record(name):
    view, source = VIEWS[name], (JS / f"{name}.js").read_text()
    assert view._esm == esm(f"js/{name}.js")
    traits = set(view.class_traits(sync=True))
    used = {a or b for a, b in re.findall(r'model\.(?:get|set)\("(\w+)"|"change:(\w+)"', source)}
    assert used <= traits, f"js/{name}.js uses {sorted(used - traits)}, which {view.__name__} does not sync"
    kinds = records_of(view)
    pictured = {m or "thumbnails" for m in re.findall(r'pictures\(model(?:,\s*"(\w+)")?\)', source)}
    assert pictured == {t for t, kind in kinds.items() if kind is Thumbnails}
    # a shared record's trait may be read by the prelude's helpers, which the view calls
    annotated = [b for b in bindings(source) + bindings(PRELUDE) if b.trait is not None]
    for trait, kind in kinds.items():
        if kind is Thumbnails:
            continue
        gets = source.count(f'model.get("{trait}")') + PRELUDE.count(f'model.get("{trait}")')
        typed = [b for b in annotated if b.trait == trait]
        assert gets and len(typed) == gets, f'js/{name}.js reads model.get("{trait}") without /** @type {{{kind.__name__}}} */'
        assert all(b.records == (kind.__name__,) for b in typed), (trait, [b.records for b in typed])


def test_each_view_has_one_records_module_named_as_its_front_end_module():
    modules = {m.name for m in pkgutil.iter_modules(payloads.__path__) if not m.name.startswith("_")}
    assert modules == set(VIEWS) == {p.stem for p in JS.glob("*.js") if not p.stem.startswith("_")}
    for name, view in VIEWS.items():
        module = importlib.import_module(f"{payloads.__name__}.{name}")
        own = {n for n, k in inspect.getmembers(module, inspect.isclass)
               if issubclass(k, Payload) and k.__module__ == module.__name__}
        read = set(view_schema(view))
        assert own <= read, f"payloads/{name}.py has records its view does not read: {sorted(own - read)}"
        assert read - own <= SHARED, f"{name} reads records of another view: {sorted(read - own)}"


def test_no_record_is_named_as_a_public_name_of_the_package_or_its_core():
    rooms = ["innersight_widgets", *(f"innersight_widgets.{room}" for room in
                                     ("engine", "innersightnet", "neurflow", "neucept", "debugging", "analysis"))]
    public = {name for room in rooms for name in getattr(importlib.import_module(room), "__all__", ())}
    names = {r for view in VIEWS.values() for r in view_schema(view)}
    assert not names & public


def test_each_view_module_starts_with_the_one_shared_prelude():
    for view in VIEWS.values():
        assert view._esm.startswith(PRELUDE)
        own = view._esm[len(PRELUDE):]
        assert "function el(" not in own and "createObjectURL" not in own  # no copies of the helpers
    assert esm("js/community_view.js").count("function el(") == 1


def test_record_traits_take_their_record_and_refuse_anything_else():
    view = CommunityView()
    view.thumbnails = Thumbnails("community 1", ["image3"], [b"\x89PNG"])
    assert view.thumbnails == {"owner": "community 1", "ids": ["image3"], "pngs": [b"\x89PNG"]}
    view.thumbnails = {}
    with pytest.raises(traitlets.TraitError, match="Thumbnails record"):
        view.thumbnails = {"owner": "community 1", "pngs": []}
    with pytest.raises(traitlets.TraitError):
        view.details = Thumbnails("x", [], [])
    with pytest.raises(traitlets.TraitError):
        view.selected = -2


def test_an_importance_summary_keeps_classes_missing_from_the_sample_empty_without_warnings():
    null = np.array([[0.1, np.nan, 0.3], [0.3, np.nan, 0.1]])
    imp = Importance(2, "zero", 50, 0.4, np.array([0.5, np.nan, 0.2]), np.zeros(3), np.array([0.1, 0.2]), null)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        summary = importance_summary(imp, total_draws=20, probe_images=400)
        empty = importance_summary(
            Importance(2, "zero", 50, 0.4, np.array([0.5, np.nan, 0.2]), np.zeros(3), np.zeros(0), np.zeros((0, 3))), 20, 400
        )
    assert summary.null_class_mean == [0.2, None, 0.2] and summary.null_class_std == [0.1, None, 0.1]
    assert summary.class_drop == [0.5, None, 0.2] and summary.draws == 2 and summary.images == 50
    assert empty.null_mean is None and empty.null_class_mean == [None, None, None] and empty.p_value is None
