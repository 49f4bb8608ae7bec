"""MisclassificationDebugger without a browser: set the traits the front end sets (a cell,
an image, the ablate toggles) and compare what is shown with the core's own answers."""


import numpy as np
import pytest
from _gates import gated

from innersight_widgets import Analysis, build_circuit, diagnose, intervene, load_pretrained, load_shapes
from innersight_widgets.widgets import MisclassificationDebugger
from innersight_widgets.widgets import debugger as module

LAYER = "layer3"


@pytest.fixture(scope="module")
def analysis():
    return Analysis(load_pretrained("shapes-spurious-cnn"), load_shapes("test", n=400), layers=["layer2", LAYER], progress=False)


@pytest.fixture(scope="module")
def cells(analysis):
    """The two most frequent confusions, (true, predicted)."""
    return [(t, p) for t, p, _ in analysis.confusions().errors[:2]]


def make(analysis, **kw):
    debugger = MisclassificationDebugger(analysis, layer=LAYER, debounce=0.0, **kw)
    debugger.wait()
    return debugger


def click(debugger, **state):
    """What the browser sends on a click: a comm update of the traits it sets."""
    debugger.drawing.set_state(state)


def assert_shows(debugger, analysis, cell):
    """The grid, the ranked units and their pictures are those of ``cell``, as diagnose ranks them."""
    true, predicted = cell
    direct = diagnose(analysis, cell, layers=LAYER)
    shown = debugger.drawing.diagnosis
    assert debugger.drawing.cell == [true, predicted]
    assert [u["name"] for u in shown["units"]] == [u.name for u in direct.units[: debugger.units_shown]]
    assert [u["contribution"] for u in shown["units"]] == [round(float(x), 3) for x in direct.contributions[: debugger.units_shown]]
    assert [u["evidence"] for u in shown["units"]] == [round(float(x), 3) for x in direct.evidence[: debugger.units_shown]]
    assert [u["on_errors"] for u in shown["units"]] == [round(float(x), 3) for x in direct.attribution.mean(1)[: debugger.units_shown]]
    assert [u["top_images"][0]["index"] for u in shown["units"]] == [int(u.top_images[0]) for u in direct.units[: debugger.units_shown]]
    assert debugger.drawing.thumbnails["owner"] == shown["owner"]
    wanted = {p["thumb"] for u in shown["units"] for p in [u["image"], *u["top_images"]]}
    assert wanted <= set(debugger.drawing.thumbnails["ids"])
    grid = debugger.drawing.errors
    assert (grid["true"], grid["predicted"]) == cell
    assert [p["index"] for p in grid["images"]] == analysis.confusions().images(*cell)[: debugger.images_shown].tolist()
    assert debugger.drawing.error_thumbnails["owner"] == grid["owner"]
    assert 'data-kind="idle"' in debugger.status.value


def test_it_opens_on_the_most_frequent_confusion(analysis, cells):
    debugger = make(analysis)
    table = analysis.confusions()
    assert debugger.drawing.table["counts"] == table.counts.tolist()
    assert_shows(debugger, analysis, cells[0])
    assert f"{len(table.images(*cells[0]))} errors" in debugger.status.value


def test_a_confusion_chosen_before_the_table_arrives_stays_chosen(analysis, cells):
    debugger = MisclassificationDebugger(analysis, layer=LAYER, debounce=0.0)
    debugger.select(*cells[1])
    debugger.wait()
    assert_shows(debugger, analysis, cells[1])


def test_clicking_a_cell_shows_the_units_diagnose_ranks_for_that_confusion(analysis, cells):
    debugger = make(analysis)
    click(debugger, cell=list(cells[1]))
    debugger.wait()
    assert_shows(debugger, analysis, cells[1])


def test_clicking_an_image_shows_each_units_attribution_and_box_on_it(analysis, cells):
    debugger = make(analysis)
    image = debugger.drawing.errors["images"][3]["index"]
    click(debugger, image=image)
    debugger.wait()
    direct = diagnose(analysis, cells[0], layers=LAYER)
    row = direct.errors.tolist().index(image)
    shown = debugger.drawing.diagnosis
    assert shown["image"] == image
    for u, unit in enumerate(shown["units"]):
        assert unit["image"]["index"] == image
        assert unit["this_image"] == round(float(direct.attribution[u, row]), 3)
        assert unit["box"] == list(direct.where[u][row].box)
    click(debugger, image=-1)
    debugger.wait()
    assert all(u["this_image"] is None for u in debugger.drawing.diagnosis["units"])


def test_toggling_two_units_shows_their_fix_rate_together(analysis, cells):
    debugger = make(analysis)
    names = [u["name"] for u in debugger.drawing.diagnosis["units"][:2]]
    click(debugger, ablate=names)
    debugger.wait()
    units = {u.name: u for u in debugger.diagnosis.units}
    errors = analysis.confusions().images(*cells[0])
    direct = intervene(analysis, [units[n] for n in names], errors)
    shown = debugger.drawing.intervention
    assert shown["units"] == names and shown["errors"] == len(errors)
    assert shown["fix_rate"] == pytest.approx(direct.fix_rate[-1], abs=1e-4)
    assert shown["fixed"] == int(np.sum(direct.now_predicted[-1] == direct.true))
    assert [a["fix_rate"] for a in shown["alone"]] == pytest.approx(direct.fix_rate[:2], abs=1e-4)
    assert shown["right_before_change"] == pytest.approx(direct.right_before_change[-1], abs=1e-4)
    for cost, change in zip(shown["classes"], direct.other_class_accuracy_change[-1]):
        assert cost["change"] == pytest.approx(change, abs=1e-4)
    assert f"fixes {shown['fixed']} of {len(errors)} errors" in debugger.status.value
    click(debugger, ablate=[])
    debugger.wait()
    assert debugger.drawing.intervention == {} and "no unit switched off" in debugger.status.value


def test_a_slider_value_sent_back_rounded_keeps_the_toggles(analysis):
    """The browser's slider sends 1.0000000000000002 back for 1.0 (min 0.1, step 0.05): the
    units it asks for are the same, so the diagnosis and the units switched off stay."""
    debugger = make(analysis)
    name = debugger.drawing.diagnosis["units"][0]["name"]
    click(debugger, ablate=[name])
    debugger.wait()
    shown = debugger.drawing.intervention
    debugger.parameter.set_state({"value": 1.0000000000000002})
    debugger.wait()
    assert debugger.drawing.ablate == [name] and debugger.drawing.intervention == shown
    debugger.parameter.value = 2.0
    debugger.wait()
    assert debugger.drawing.ablate == [] and debugger.drawing.intervention == {}
    assert "louvain, resolution γ = 2.00" in debugger.drawing.diagnosis["title"]


def test_the_community_controls_are_the_explorers_and_choose_the_units(analysis, cells):
    """Another method (with its own slider) ranks that method's communities, the ones
    Analysis.communities gives for the settings shown."""
    debugger = make(analysis)
    debugger.method.value = "spectral"
    debugger.wait()
    assert debugger.parameter.description == "communities k"
    debugger.parameter.value = 3
    debugger.k.value = 5
    debugger.wait()
    partition = analysis.communities(LAYER, "spectral", stability_runs=0, n_communities=3, k=5, min_corr=0.0)
    direct = diagnose(analysis, cells[0], layers=LAYER, communities=partition)
    shown = debugger.drawing.diagnosis
    assert "spectral, communities k = 3" in shown["title"]
    assert [u["name"] for u in shown["units"]] == [u.name for u in direct.units]
    assert [u["neurons"] for u in shown["units"]] == [u.num_neurons for u in direct.units]
    assert len(shown["units"]) == 3


def test_the_switch_off_buttons_rerun_the_intervention_with_the_mean(analysis, cells):
    debugger = make(analysis)
    name = debugger.drawing.diagnosis["units"][0]["name"]
    click(debugger, ablate=[name])
    debugger.wait()
    assert debugger.drawing.intervention["mode"] == "zero"
    debugger.mode.value = "mean"
    debugger.wait()
    unit = next(u for u in debugger.diagnosis.units if u.name == name)
    direct = intervene(analysis, unit, analysis.confusions().images(*cells[0]), "mean")
    shown = debugger.drawing.intervention
    assert shown["mode"] == "mean" and debugger.drawing.ablate == [name]
    assert shown["fix_rate"] == pytest.approx(direct.fix_rate[0], abs=1e-4)
    assert shown["other_accuracy_change"] == pytest.approx(direct.other_accuracy_change[0], abs=1e-4)


def test_a_click_during_a_recompute_never_shows_the_older_confusion(analysis, cells, monkeypatch):
    debugger = make(analysis)
    drawn = []
    debugger.drawing.observe(lambda change: drawn.append(change["new"].get("title")), names="diagnosis")
    click(debugger, cell=list(cells[1]))
    debugger.wait()
    started, release = gated(monkeypatch, module, "diagnose")
    click(debugger, cell=list(cells[0]))
    assert started.wait(10)  # the worker is inside the diagnosis of cells[0]
    click(debugger, cell=list(cells[1]))  # the user clicks another cell meanwhile
    assert debugger.drawing.diagnosis == {} and 'data-kind="busy"' in debugger.status.value
    release.set()
    debugger.wait()
    assert_shows(debugger, analysis, cells[1])
    names = analysis.data.class_names
    assert [t for t in drawn if t] == [debugger.drawing.diagnosis["title"]] * len([t for t in drawn if t])
    assert all(f"pushing {names[cells[0][0]]} to {names[cells[0][1]]}" not in t for t in drawn if t)


def test_untoggling_during_an_intervention_never_shows_its_result(analysis, monkeypatch):
    debugger = make(analysis)
    name = debugger.drawing.diagnosis["units"][0]["name"]
    started, release = gated(monkeypatch, module, "intervene")
    click(debugger, ablate=[name])
    assert started.wait(10)
    click(debugger, ablate=[])
    release.set()
    debugger.wait()
    assert debugger.drawing.intervention == {} and debugger.intervention is None
    assert "no unit switched off" in debugger.status.value


def test_errors_show_in_the_status_line(analysis, cells, monkeypatch):
    debugger = make(analysis)

    def broken(*args, **kwargs):
        raise RuntimeError("the ablation <failed>")

    monkeypatch.setattr(module, "intervene", broken)
    click(debugger, ablate=[debugger.drawing.diagnosis["units"][0]["name"]])
    debugger.wait()
    assert 'data-kind="error"' in debugger.status.value
    assert "RuntimeError: the ablation &lt;failed&gt;" in debugger.status.value  # escaped, not HTML
    assert debugger.drawing.intervention == {}

    monkeypatch.setattr(module, "diagnose", broken)
    click(debugger, cell=list(cells[1]))
    debugger.wait()
    assert 'data-kind="error"' in debugger.status.value and debugger.drawing.diagnosis == {}
    assert debugger.drawing.ablate == [] and debugger.drawing.thumbnails == {}

    click(debugger, cell=[1, 1])
    assert "off-diagonal cell" in debugger.status.value
    empty = next((t, p) for t, p in np.ndindex(*analysis.confusions().counts.shape)
                 if t != p and analysis.confusions().counts[t, p] == 0)
    click(debugger, cell=list(empty))
    assert "click a cell with a count" in debugger.status.value


def test_with_a_circuit_the_units_are_its_groups(analysis, cells):
    circuit = build_circuit(analysis, "triangle", layers=[LAYER], tau=3, top_k=8, ig_steps=8, max_images=8)
    debugger = make(analysis, circuit=circuit)
    direct = diagnose(analysis, cells[0], layers=LAYER, units=circuit)
    shown = debugger.drawing.diagnosis
    assert [u["name"] for u in shown["units"]] == [u.name for u in direct.units]
    assert [u["contribution"] for u in shown["units"]] == [round(float(x), 3) for x in direct.contributions]
    assert "groups of the triangle circuit" in shown["title"]
    assert debugger.parameter.disabled and debugger.method.disabled
    other = Analysis(analysis.model, analysis.data, layers=[LAYER], progress=False)
    with pytest.raises(ValueError, match="built on another Analysis"):
        MisclassificationDebugger(other, circuit=circuit)


def test_bad_arguments_are_explained(analysis):
    with pytest.raises(TypeError, match="needs an Analysis"):
        MisclassificationDebugger("an analysis")
    with pytest.raises(TypeError, match="circuit must be a Circuit"):
        MisclassificationDebugger(analysis, circuit="star")
    with pytest.raises(ValueError, match="layer 'layer9' is not one of layer2, layer3"):
        MisclassificationDebugger(analysis, layer="layer9")
    with pytest.raises(ValueError, match="mode must be 'zero' or 'mean'"):
        MisclassificationDebugger(analysis, mode="random")
    with pytest.raises(ValueError, match="units_shown"):
        MisclassificationDebugger(analysis, units_shown=0)
