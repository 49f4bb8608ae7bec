"""CriticalNeuronsView without a browser: the FDR slider re-thresholds instantly, mechanisms follow."""

import numpy as np
import pytest

from innersight_widgets import Analysis, load_digits, load_pretrained
from innersight_widgets.core.critical import critical_neurons
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
    assert len(view.drawing.thumbnails) == sum(len(m["images"]) for m in mech["mechanisms"])
    assert mech["report"]["concept"] == "digit" and 0 <= mech["report"]["nmi"] <= 1
    assert mech["ablation"]["neurons"] == expected.selected.size and "random" in mech["ablation"]
    assert 'data-kind="idle"' in view.status.value


def test_moving_the_fdr_slider_rethresholds_without_refitting(analysis, monkeypatch):
    view = CriticalNeuronsView(analysis, layer="relu3", target_class="even", runs=3)
    view.wait()
    import innersight_widgets.widgets.critical_view as module

    monkeypatch.setattr(module, "critical_neurons", lambda *a, **k: pytest.fail("refitted on an FDR move"))
    for q in (0.05, 0.3, 0.2):
        view.fdr.value = q
        assert len(view.drawing.selection["neurons"]) == view.critical.at(q).selected.size  # already, synchronously
    view.wait()
    assert view.drawing.selection["fdr"] == pytest.approx(0.2)


def test_errors_show_in_the_status_line(analysis):
    small = Analysis(analysis.model, analysis.data.subset(range(60)), layers=["relu3"], progress=False)
    view = CriticalNeuronsView(small, layer="relu3", target_class="even", runs=1)
    view.wait()
    assert 'data-kind="error"' in view.status.value and "at least 2 x neurons" in view.status.value
    with pytest.raises(TypeError, match="needs an Analysis"):
        CriticalNeuronsView("an analysis")
