"""CircuitView without a browser: clicks and image picks as the front end would send them."""

import numpy as np
import pytest

from innersight_widgets import Analysis, build_circuit, load_pretrained, load_shapes
from innersight_widgets.widgets import CircuitView
from innersight_widgets.widgets.payloads.circuit_view import LIT_ABOVE


@pytest.fixture(scope="module")
def circuit():
    an = Analysis(load_pretrained("shapes-spurious-cnn"), load_shapes("test", n=400), layers=["layer3"], progress=False)
    return build_circuit(an, "star", ["layer3", "layer2"], tau=6, top_k=20, ig_steps=4, max_images=12)


@pytest.fixture
def view(circuit):
    return CircuitView(circuit)


def test_the_graph_is_layered_with_the_class_on_top(view):
    nodes = view.drawing.graph["nodes"]
    assert {n["level"] for n in nodes} == {0, 1, 2}
    assert all(n["layer"] == "logit" for n in nodes if n["level"] == 0)
    assert len(nodes) == len(view.circuit.groups)
    shown = {(e["a"], e["b"]): e["w"] for e in view.drawing.graph["edges"]}
    assert shown == {(a, b): round(w, 4) for a, b, w in view.circuit.edges} and shown


def test_clicking_a_group_shows_its_crops_inputs_and_outputs(view):
    group = view.circuit.groups_of("layer3")[0]
    view.drawing.set_state({"selected": group.id})
    view.wait()
    details, thumbs = view.drawing.details, view.drawing.thumbnails
    assert details["id"] == group.id
    label = group.label
    assert details["label"] == ("" if not label else f"{label['concept']} = {label['value']} ({label['share']:.0%} of its top probe images)")
    assert thumbs["owner"] == details["owner"]
    assert thumbs["ids"] == [c["thumb"] for c in details["crops"]] and len(thumbs["ids"]) == min(8, len(group.crops)) > 0
    assert len(thumbs["pngs"]) == len(thumbs["ids"]) and all(t[:4] == b"\x89PNG" for t in thumbs["pngs"])
    inputs = {a: w for a, b, w in view.circuit.edges if b == group.id}
    outputs = {b: w for a, b, w in view.circuit.edges if a == group.id}
    assert inputs and outputs and all(b.startswith("logit/") for b in outputs)
    assert [i["group"] for i in details["inputs"]] == sorted(inputs, key=lambda g: -inputs[g])[:5]
    assert [(o["group"], o["weight"]) for o in details["outputs"]] == [
        (b, round(outputs[b], 4)) for b in sorted(outputs, key=lambda g: -outputs[g])[:5]
    ]
    assert 'data-kind="idle"' in view.status.value


def test_a_group_is_lit_only_by_a_positive_score_above_its_threshold(view):
    """An image lights a group when a crop scores above 0 and above the group's threshold;
    the image box, the drop-down and the panel name the same image."""
    an = view.analysis
    checked = 0
    for image in range(0, len(an.data), 25):
        view.debug(image)
        view.wait()
        debug = view.drawing.debug
        assert debug["image"] == image == view.image_index.value and debug["layer"] == view.layer.value
        known = {value for _, value in view.misclassified.options}
        assert view.misclassified.value == (image if image in known else -1)
        expected = view.circuit.debug_image(image, debug["layer"])
        assert [m["group"] for m in debug["matches"]] == [m["group"] for m in expected]
        for shown, raw in zip(debug["matches"], expected):
            assert shown["lit"] == (raw["best"] > LIT_ABOVE and bool(raw["crops"]))
            checked += shown["best"] <= LIT_ABOVE and bool(raw["crops"])  # above a negative threshold only
        assert view.drawing.debug_image["owner"] == debug["owner"]
        assert f"#{image}" in view.status.value
    assert checked > 0, "no group had a non-positive best score above its threshold: the rule was not exercised"


def test_picking_a_misclassified_image_moves_the_image_box(view):
    image = view.misclassified.options[1][1]
    view.misclassified.value = image
    view.wait()
    assert view.image_index.value == image == view.drawing.debug["image"]
    assert view.drawing.debug_image["pngs"][0][:4] == b"\x89PNG"
    view.layer.value = view.circuit.layers[1]
    view.wait()
    assert view.drawing.debug["layer"] == view.circuit.layers[1] and view.drawing.debug["image"] == image


def test_errors_show_in_the_status_line(view):
    view.drawing.set_state({"selected": "layer9/g0"})
    view.wait()
    assert 'data-kind="error"' in view.status.value and "no group" in view.status.value
    assert view.drawing.details == {}
    with pytest.raises(TypeError, match="needs a Circuit"):
        CircuitView("circuit")
    assert np.isfinite(view.drawing.graph["nodes"][0]["x"])


def test_an_image_index_outside_the_probe_set_is_refused_not_wrapped(view):
    for image in (-1, 400, 10**6, True):
        with pytest.raises(ValueError, match=r"probe image index in 0\.\.399, got"):
            view.debug(image)
    view.wait()
    assert view.drawing.debug == {}  # -1 did not debug the last image


def test_a_group_labelled_with_a_colour_is_drawn_in_that_colour(view):
    """As in the explorer: a group whose label names a colour ("colour=green") is drawn in
    that colour's hue, the others in hues no colour word names."""
    import colorsys

    from innersight_widgets.widgets.payloads.community_view import NAMED_COLOURS, WORDLESS

    def hue(css):
        return colorsys.rgb_to_hsv(*(int(css[i : i + 2], 16) / 255 for i in (1, 3, 5)))[0]

    def apart(css, word):  # a grey, or a hue at least 0.1 round the circle from the word's
        h, saturation, _ = colorsys.rgb_to_hsv(*(int(css[i : i + 2], 16) / 255 for i in (1, 3, 5)))
        gap = abs(h - hue(NAMED_COLOURS[word]))
        return saturation < 0.2 or min(gap, 1 - gap) >= 0.1

    nodes = view.drawing.graph["nodes"]
    named = [n for n in nodes if n["label"].split("=")[-1] in NAMED_COLOURS]
    assert named, [n["label"] for n in nodes]  # the spurious model's star circuit has colour groups
    for n in nodes:
        if n in named:
            assert abs(hue(n["fill"]) - hue(NAMED_COLOURS[n["label"].split("=")[-1]])) < 0.02, n
        else:  # a hue no label's colour has (or a grey)
            assert n["fill"] in WORDLESS and all(apart(n["fill"], m["label"].split("=")[-1]) for m in named), n
