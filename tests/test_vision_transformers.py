"""A Hugging Face ``ViTForImageClassification`` (random weights) goes in as it is: the pass,
communities and their patches, pathways, a circuit through attention, critical neurons,
diagnosis and intervention, and the four widgets."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from innersight_widgets import (
    Analysis,
    CircuitView,
    CommunityExplorer,
    CriticalNeuronsView,
    MisclassificationDebugger,
    build_circuit,
    critical_neurons,
    diagnose,
    intervene,
    load_shapes,
)

transformers = pytest.importorskip("transformers", reason="transformers is an optional extra ([test] and [hf] install it)")

LAYERS = ["vit.layers.1.mlp.fc1", "vit.layers.1", "vit.layers.2"]
PATCH = 8


@pytest.fixture(scope="module")
def vit() -> Analysis:
    config = transformers.ViTConfig(
        image_size=64, patch_size=PATCH, hidden_size=48, num_hidden_layers=3, num_attention_heads=4,
        intermediate_size=96, num_labels=4, initializer_range=0.5,  # random, yet predicting every class
    )
    torch.manual_seed(0)
    model = transformers.ViTForImageClassification(config).eval()
    return Analysis(model, load_shapes("test", n=200), layers=LAYERS, batch_size=64, progress=False)


def test_the_unwrapped_model_runs_and_its_token_layers_are_patch_grids(vit):
    for layer in LAYERS:
        info = vit.layer_info(layer)
        assert (info.grid, info.prefix, info.spatial_shape) == ((8, 8), 1, (8, 8))
    assert vit.predictions.logits.shape == (200, 4)
    assert vit.profiles("vit.layers.1.mlp.fc1").shape == (200, 96)


def test_community_patches_are_whole_patches_at_each_members_maximum(vit):
    report = vit.evaluate(vit.communities("vit.layers.2", stability_runs=0))
    patches = report.patches(0, k=6)
    assert len(patches) == 6
    for patch in patches:
        top, left, bottom, right = patch.box
        assert (bottom - top, right - left) == (PATCH, PATCH) and top % PATCH == 0 and left % PATCH == 0
        flat = vit.top_images(patch.layer, patch.neuron, k=200)
        row, col = flat.positions[list(flat.indices).index(patch.image)]
        assert (top, left) == (row * PATCH, col * PATCH)


def test_pathways_importance_and_flow_across_token_layers(vit):
    parts = [vit.communities(layer, stability_runs=0) for layer in ("vit.layers.1", "vit.layers.2")]
    report = vit.evaluate(parts)
    paths = report.pathways(0, k=2)  # the logit reads the CLS token: its attribution must count
    assert paths and all(len(p.layers) == 2 for p in paths)
    assert 0 <= report.importance(0, draws=4, images=32).p_value <= 1
    assert np.isfinite(vit.flow("vit.layers.1", "vit.layers.2", images=16)).all()


def test_a_circuit_through_attention_critical_neurons_and_diagnosis(vit):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback from the exact IG plan goes unnoticed
        circuit = build_circuit(vit, 0, layers=["vit.layers.2", "vit.layers.1"], max_images=8, ig_steps=8)
    assert set(circuit.core) == {"vit.layers.2", "vit.layers.1"} and circuit.groups
    critical = critical_neurons(vit, "vit.layers.2", 0, runs=2)
    assert critical.layer == "vit.layers.2"
    true, predicted, _ = vit.confusions().errors[0]
    diagnosis = diagnose(vit, (true, predicted), layers=["vit.layers.2"], steps=4, reference=None)
    assert diagnosis.units and all(u.spec for u in diagnosis.units)
    assert len(intervene(vit, diagnosis.units[:1], (true, predicted)).fix_rate) == 1


@pytest.mark.parametrize(
    "make",
    [
        lambda an: CommunityExplorer(an, layers="vit.layers.2"),
        lambda an: CircuitView(build_circuit(an, 0, layers=["vit.layers.2", "vit.layers.1"], max_images=8, ig_steps=8)),
        lambda an: CriticalNeuronsView(an, layer="vit.layers.2", target_class=0, runs=2),
        lambda an: MisclassificationDebugger(an, layer="vit.layers.2"),
    ],
    ids=["explorer", "circuit", "critical", "debugger"],
)
def test_every_widget_settles_idle_on_the_vit(vit, make):
    widget = make(vit)
    widget.wait(timeout=300)
    assert 'data-kind="idle"' in widget.status.value, widget.status.value
