"""CriticalNeuronsView without a browser: the FDR slider re-thresholds instantly, mechanisms follow."""

import html

import numpy as np
import pytest

from innersight_widgets import Analysis, load_digits, load_pretrained
from innersight_widgets.neucept.critical import critical_neurons, mechanisms
from innersight_widgets.widgets import CriticalNeuronsView


@pytest.fixture(scope="module")
def analysis():
    return Analysis(load_pretrained("parity-cnn"), load_digits("parity", "train"), layers=["relu3", "fc1"], progress=False)


def test_the_view_shows_the_selection_and_the_mechanisms(analysis):
    view = CriticalNeuronsView(analysis, layer="relu3", target_class="even", concept="digit", runs=3)
    view.wait()
    expected = critical_neurons(analysis, "relu3", "even", fdr=0.1, runs=3)
    shown = view.drawing.selection
    assert sorted(n["neuron"] for n in shown["neurons"]) == expected.selected.tolist()
    mech = view.drawing.mechanisms
    assert sum(m["size"] for m in mech["mechanisms"]) == int(np.sum(analysis.predictions.classes == 0))
    thumbs = view.drawing.thumbnails
    assert thumbs["owner"] == mech["owner"]
    assert {i["thumb"] for m in mech["mechanisms"] for i in m["images"]} <= set(thumbs["ids"])
    assert mech["report"]["concept"] == "digit" and 0 <= mech["report"]["nmi"] <= 1
    assert mech["ablation"]["neurons"] == expected.selected.size and "random" in mech["ablation"]
    assert 'data-kind="idle"' in view.status.value


def test_mechanisms_show_their_most_typical_images_and_say_whose_share_the_caption_is(analysis):
    view = CriticalNeuronsView(analysis, layer="relu3", target_class="even", concept="digit", runs=3)
    view.wait()
    found = mechanisms(analysis, view.critical)
    digit = analysis.data.concepts["digit"]
    for m, shown in enumerate(view.drawing.mechanisms["mechanisms"]):
        members = found.members(m)
        rows = np.flatnonzero(found.labels == m)
        distance = np.linalg.norm(found.features[rows] - found.features[rows].mean(0), axis=1)
        closest = found.images[rows[np.argsort(distance, kind="stable")[:8]]]
        assert [i["index"] for i in shown["images"]] == closest.tolist()
        assert set(closest) <= set(members) and shown["size"] == members.size
        values = digit.values[members]
        top = np.bincount(values).argmax()
        assert shown["dominant"] == (
            f"mostly {digit.names[top]}: {np.mean(values == top):.0%} of its {members.size} images, "
            f"{int(np.sum(digit.values[closest] == top))} of the {closest.size} shown"
        )


def test_moving_the_fdr_slider_rethresholds_without_refitting(analysis, monkeypatch):
    view = CriticalNeuronsView(analysis, layer="relu3", target_class="even", runs=3)
    view.wait()
    import innersight_widgets.widgets.critical_view as module

    refits = []

    def refit(*args, **kwargs):
        refits.append(kwargs.get("fdr"))
        raise RuntimeError("refitted on an FDR move")

    # The runner turns an exception in the widget's work into a status message, so the
    # calls are counted here and the status is read below.
    monkeypatch.setattr(module, "critical_neurons", refit)
    fitted = view.critical
    for q in (0.05, 0.3, 0.2):
        view.fdr.value = q
        assert len(view.drawing.selection["neurons"]) == fitted.at(q).selected.size  # already, synchronously
    view.wait()
    assert refits == []
    assert view.critical.w is fitted.w and view.drawing.selection["fdr"] == pytest.approx(0.2)
    assert 'data-kind="idle"' in view.status.value and "fdr 0.2000" in view.drawing.mechanisms["owner"]


def test_errors_show_in_the_status_line(analysis):
    small = Analysis(analysis.model, analysis.data.subset(range(60)), layers=["relu3"], progress=False)
    view = CriticalNeuronsView(small, layer="relu3", target_class="even", runs=1)
    view.wait()
    assert 'data-kind="error"' in view.status.value and "at least 2 x neurons" in view.status.value
    with pytest.raises(TypeError, match="needs an Analysis"):
        CriticalNeuronsView("an analysis")
    with pytest.raises(ValueError, match="no concept 'colour'"):
        CriticalNeuronsView(analysis, concept="colour")


def test_a_failed_refit_leaves_nothing_of_the_old_class_under_the_new_controls(analysis, monkeypatch):
    view = CriticalNeuronsView(analysis, layer="relu3", target_class="even", runs=2)
    view.wait()
    assert view.drawing.selection["class_name"] == "even"
    import innersight_widgets.widgets.critical_view as module

    def broken(*args, **kwargs):
        raise RuntimeError("knockoffs <failed>")

    monkeypatch.setattr(module, "critical_neurons", broken)
    view.target.value = "odd"
    view.fdr.value = 0.2  # moved while the refit runs: nothing of "even" comes back
    view.wait()
    assert view.drawing.selection == {} and view.drawing.mechanisms == {} and view.drawing.thumbnails == {}
    assert 'data-kind="error"' in view.status.value and "knockoffs &lt;failed&gt;" in view.status.value


def test_a_selection_left_empty_says_why_in_the_status_line(analysis):
    view = CriticalNeuronsView(analysis, layer="relu3", target_class="even", runs=3)
    view.wait()
    view.fdr.value = view.fdr.min  # knockoff+ needs at least 1/q positive statistics: none at the slider's smallest q
    view.wait()
    assert view.critical.selected.size == 0
    assert view.drawing.mechanisms == {} and view.drawing.thumbnails == {}
    shown = html.unescape(view.status.value)
    assert "no neuron of relu3 is selected at FDR 0.01" in shown and view.critical.why_none in shown


def test_an_fdr_that_selects_nothing_cancels_the_mechanisms_still_computing(analysis, monkeypatch):
    """The worker is held inside the mechanisms of FDR 0.3 while the slider moves to 0.01,
    which selects nothing; released, the old mechanisms must not land under the new FDR."""
    import threading

    import innersight_widgets.widgets.critical_view as module

    view = CriticalNeuronsView(analysis, layer="relu3", target_class="even", runs=3, debounce=0)
    view.wait()
    assert view.critical.at(0.3).selected.size > 0 and view.critical.at(0.01).selected.size == 0
    entered, release = threading.Event(), threading.Event()
    real = module.mechanisms

    def held(*args, **kwargs):
        entered.set()
        assert release.wait(60)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, "mechanisms", held)
    view.fdr.value = 0.3
    assert entered.wait(60)
    view.fdr.value = 0.01
    release.set()
    view.wait()
    assert view.drawing.selection["neurons"] == []
    assert view.drawing.mechanisms == {} and view.drawing.thumbnails == {}
    status = html.unescape(view.status.value)
    assert "no neuron of relu3 is selected at FDR 0.01" in status and "mechanisms" not in status
