"""What a clicked unit looks for, in the explorer's details and the circuit view's group panel:
the feature visualisation computed after the details, drawn as it forms, for the unit on
screen only, and kept with the analysis (widgets/_feature.py)."""

import numpy as np
import pytest
import torch

from innersight_widgets import Analysis, ImageDataset, build_circuit, load_pretrained, load_shapes, visualise
from innersight_widgets.visualisation import PARTIAL_EVERY, VIEW_SETTINGS
from innersight_widgets.widgets import CircuitView, CommunityExplorer

STEPS = PARTIAL_EVERY + 8  # one picture in progress, then the finished one


@pytest.fixture(scope="module")
def analysis():
    return Analysis(load_pretrained("shapes-cnn"), load_shapes("test", n=200), layers=["layer2", "layer3"], progress=False)


def records_seen(drawing):
    """Every FeatureImages record the drawing is given, in order (as the front end sees them)."""
    seen = []
    drawing.observe(lambda change: seen.append(change["new"]), names="feature")
    return seen


def test_a_clicked_community_shows_what_it_looks_for_as_it_forms(analysis):
    explorer = CommunityExplorer(analysis, layers="layer3", draws=2, images=100, feature_steps=STEPS)
    explorer.wait()
    seen = records_seen(explorer.view)
    explorer.select(1)
    explorer.wait()
    owner = explorer.view.details["owner"]
    shown = [r for r in seen if r]
    assert [r["step"] for r in shown] == [0, PARTIAL_EVERY, STEPS] and all(r["owner"] == owner for r in shown)
    final = explorer.view.feature
    expected = visualise(analysis, (explorer.communities, 1), images=VIEW_SETTINGS["images"], steps=STEPS)
    assert final["unit"] == expected.unit == "layer3 community 1" and final["steps"] == STEPS
    assert final["scores"] == [round(float(v), 2) for v in expected.final]
    assert final["reference"] == round(float(explorer.report.scores[:, 1].max()), 2)
    assert final["reference_text"] == "the best probe image scores"
    pictures = explorer.view.feature_pictures
    assert pictures["owner"] == owner and pictures["ids"] == final["thumbs"] and len(final["thumbs"]) == VIEW_SETTINGS["images"]
    assert all(p[:8] == b"\x89PNG\r\n\x1a\n" for p in pictures["pngs"])
    # the status line keeps the details' outcome (the ablation test), not the panel's figures
    assert "ablation drops accuracy" in explorer.status.value
    # a saved notebook's snapshot shows the same images and figures
    snapshot = "".join(explorer.snapshot_parts())
    reference = f"the best probe image scores {final['reference']:.2f}"
    assert f"What it looks for: layer3 community 1 after {STEPS} of {STEPS} steps; {reference}" in snapshot
    assert snapshot.count('alt="score ') == VIEW_SETTINGS["images"]


def test_a_click_while_the_images_form_stops_them_and_a_finished_one_is_kept_for_later(analysis):
    steps = 3 * PARTIAL_EVERY
    explorer = CommunityExplorer(analysis, layers="layer3", draws=2, images=100, feature_steps=steps)
    explorer.wait()
    seen = records_seen(explorer.view)

    def click_while_forming(change):
        if change["new"] and change["new"]["step"] == PARTIAL_EVERY and explorer.view.details["community"] == 0:
            explorer.select(2)

    explorer.view.observe(click_while_forming, names="feature")
    explorer.select(0)
    explorer.wait()
    explorer.view.unobserve(click_while_forming, names="feature")
    first = [r for r in seen if r and r["unit"] == "layer3 community 0"]
    assert [r["step"] for r in first] == [PARTIAL_EVERY]  # stopped: never drawn further
    assert explorer.view.details["community"] == 2
    assert explorer.view.feature["owner"] == explorer.view.details["owner"] and explorer.view.feature["step"] == steps
    # community 2 again: kept with the analysis, so shown finished at once (no image in progress)
    explorer.select(0)
    explorer.wait()
    seen.clear()
    explorer.select(2)
    explorer.wait()
    assert [r["step"] for r in seen if r] == [0, steps]


def test_no_steps_shows_nothing(analysis):
    explorer = CommunityExplorer(analysis, layers="layer3", draws=2, images=100, feature_steps=0)
    explorer.wait()
    explorer.select(1)
    explorer.wait()
    assert explorer.view.details["community"] == 1 and explorer.view.feature == {}
    with pytest.raises(ValueError, match="feature_steps"):
        CommunityExplorer(analysis, layers="layer3", feature_steps=-1)


def test_a_clicked_group_shows_what_it_looks_for_beside_its_threshold(analysis):
    circuit = build_circuit(analysis, "star", ["layer3"], tau=6, top_k=12, ig_steps=4, max_images=8)
    view = CircuitView(circuit, feature_steps=STEPS)
    group = circuit.groups_of("layer3")[0]
    view.select(group.id)
    view.wait()
    feature = view.drawing.feature
    assert feature["owner"] == view.drawing.details["owner"] and feature["unit"] == f"group {group.id}"
    expected = visualise(analysis, group, images=VIEW_SETTINGS["images"], steps=STEPS)
    assert feature["scores"] == [round(float(v), 2) for v in expected.final]
    assert feature["reference"] == round(float(group.threshold), 2)
    assert feature["reference_text"] == "a crop shows the group above"
    assert np.isfinite(feature["scores"]).all() and view.drawing.feature_pictures["ids"] == feature["thumbs"]


def test_images_normalised_by_hand_need_their_normalisation_and_the_panel_says_how_to_give_it(analysis):
    shapes = load_shapes("test", n=120)
    pixels = torch.stack([shapes[i][0] for i in range(len(shapes))])
    normalised = ImageDataset((pixels - 0.5) / 0.25, [int(shapes[i][1]) for i in range(len(shapes))], shapes.class_names)
    an = Analysis(analysis.model, normalised, layers=["layer3"], progress=False)
    explorer = CommunityExplorer(an, layers="layer3", draws=2, images=50, feature_steps=8)
    explorer.wait()
    explorer.select(0)
    explorer.wait()
    assert explorer.status.kind == "error" and "feature_options={'mean': [...], 'std': [...]}" in explorer.status.text
    assert explorer.view.feature == {}  # nothing half-drawn is left
    given = CommunityExplorer(an, layers="layer3", draws=2, images=50, feature_steps=8,
                              feature_options={"mean": [0.5] * 3, "std": [0.25] * 3})
    given.wait()
    given.select(0)
    given.wait()
    assert given.status.kind == "idle" and given.view.feature["step"] == 8
    with pytest.raises(ValueError, match="feature_options has 'steps'"):
        CommunityExplorer(an, layers="layer3", feature_options={"steps": 3})
