"""The shipped demo models: safe loading, the accuracies README states, and the planted shortcut."""

import json
from pathlib import Path

import pytest
import torch

import innersight_widgets.models as models
from innersight_widgets import load_pretrained
from innersight_widgets.models import DEMO_MODELS
from innersight_widgets.models.train import evaluate, train

WEIGHTS = Path(models.__file__).parent / "weights"


@pytest.mark.parametrize("name", list(DEMO_MODELS))
def test_weights_are_a_plain_state_dict_loaded_safely(name):
    state = torch.load(WEIGHTS / f"{name}.pt", weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    model = load_pretrained(name)
    assert not model.training
    assert model.class_names == DEMO_MODELS[name].test_data().class_names


@pytest.mark.parametrize("name", ["digits-cnn", "parity-cnn", "shapes-cnn"])
def test_models_reach_the_stated_accuracy(name):
    model = load_pretrained(name)
    measured = evaluate(model, DEMO_MODELS[name].test_data())
    assert measured["accuracy"] >= 0.95
    # the figures shipped beside the weights (and quoted in README) are what the test data gives
    assert measured["accuracy"] == pytest.approx(model.test_metrics["accuracy"], abs=1e-9)


def test_the_spurious_model_takes_the_colour_shortcut():
    spurious = load_pretrained("shapes-spurious-cnn")
    clean = load_pretrained("shapes-cnn")
    data = DEMO_MODELS["shapes-spurious-cnn"].test_data()
    s, c = evaluate(spurious, data), evaluate(clean, data)
    assert s["accuracy_colour_agrees"] >= 0.95
    assert s["accuracy_colour_disagrees"] <= 0.6  # fails where colour and shape disagree
    assert c["accuracy_colour_disagrees"] >= 0.95  # the independent-split model does not
    assert s["accuracy_colour_disagrees"] == pytest.approx(spurious.test_metrics["accuracy_colour_disagrees"])


def test_one_model_has_nested_residual_blocks_with_batchnorm():
    names = dict(load_pretrained("shapes-cnn").named_modules())
    assert {"layer1", "layer1.conv1", "layer1.bn1", "layer1.shortcut.0", "layer3.conv2"} <= set(names)
    assert isinstance(names["layer2.bn2"], torch.nn.BatchNorm2d)


def test_unknown_names_and_missing_weights_are_explained(monkeypatch, tmp_path):
    with pytest.raises(ValueError, match="shipped ones are: digits-cnn, parity-cnn"):
        load_pretrained("resnet50")
    monkeypatch.setattr(models, "_WEIGHTS_DIR", tmp_path)
    with pytest.raises(FileNotFoundError, match="python -m innersight_widgets.models.train digits-cnn"):
        load_pretrained("digits-cnn")


def test_training_is_seeded_and_writes_loadable_weights(tmp_path):
    first = train("parity-cnn", tmp_path / "a", epochs=1)
    second = train("parity-cnn", tmp_path / "b", epochs=1)
    a = torch.load(tmp_path / "a" / "parity-cnn.pt", weights_only=True)
    b = torch.load(tmp_path / "b" / "parity-cnn.pt", weights_only=True)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert first["test"] == second["test"]
    assert json.loads((tmp_path / "a" / "parity-cnn.json").read_text())["class_names"] == ["even", "odd"]


def test_the_shipped_vit_reaches_its_stated_accuracy():
    model = load_pretrained("shapes-vit")
    measured = evaluate(model, DEMO_MODELS["shapes-vit"].test_data())
    assert measured["accuracy"] >= 0.7
    assert measured["accuracy"] == pytest.approx(model.test_metrics["accuracy"], abs=1e-9)
