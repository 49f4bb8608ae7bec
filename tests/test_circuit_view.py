"""CircuitView without a browser: clicks and image picks as the front end would send them."""

import pytest

from innersight_widgets import Analysis, build_circuit, load_pretrained, load_shapes
from innersight_widgets.widgets import CircuitView


@pytest.fixture(scope="module")
def view():
    an = Analysis(load_pretrained("shapes-spurious-cnn"), load_shapes("test", n=400), layers=["layer3"], progress=False)
    circuit = build_circuit(an, "star", ["layer3", "layer2"], tau=6, top_k=20, ig_steps=4, max_images=12)
    return CircuitView(circuit)


def test_the_graph_is_layered_with_the_class_on_top(view):
    nodes = view.drawing.graph["nodes"]
    assert {n["level"] for n in nodes} == {0, 1, 2}
    assert all(n["layer"] == "logit" for n in nodes if n["level"] == 0)
    assert len(nodes) == len(view.circuit.groups)
    assert len(view.drawing.graph["edges"]) == len(view.circuit.edges)


def test_clicking_a_group_shows_its_crops_inputs_and_outputs(view):
    group = view.circuit.groups_of("layer3")[0]
    view.drawing.set_state({"selected": group.id})
    details = view.drawing.details
    assert details["id"] == group.id and details["label"] == group.label
    assert len(view.drawing.thumbnails) == min(8, len(group.crops)) > 0
    assert all(t[:4] == b"\x89PNG" for t in view.drawing.thumbnails)
    inputs = {e[0]: e[2] for e in view.circuit.edges if e[1] == group.id}
    assert [i["group"] for i in details["inputs"]] == sorted(inputs, key=lambda g: -inputs[g])[:5]
    assert all(o["group"].startswith("logit/") for o in details["outputs"])


def test_debugging_a_misclassified_image_lights_its_groups(view):
    image = view.misclassified.options[1][1]
    view.misclassified.value = image
    debug = view.drawing.debug
    assert debug["image"] == image and debug["layer"] == view.layer.value
    expected = view.circuit.debug_image(image, debug["layer"])
    assert [m["group"] for m in debug["matches"]] == [m["group"] for m in expected]
    assert view.drawing.debug_image[:4] == b"\x89PNG"
    assert f"image #{image}" in view.status.value


def test_errors_show_in_the_status_line(view):
    view.drawing.set_state({"selected": "layer9/g0"})
    assert 'data-kind="error"' in view.status.value and "no group" in view.status.value
    with pytest.raises(TypeError, match="needs a Circuit"):
        CircuitView("circuit")
