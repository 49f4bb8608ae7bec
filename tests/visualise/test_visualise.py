"""visualise(): what each kind of unit maximises, the result, determinism, cancellation,
progress, the execution seam, the normalisation and the messages for wrong units."""

import inspect
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from innersight_widgets import (
    Analysis,
    ImageDataset,
    Unit,
    Visualisation,
    build_circuit,
    load_pretrained,
    load_shapes,
    unit_objective,
    visualise,
)
from innersight_widgets.engine import Cancelled
from innersight_widgets.neurflow.circuits import barrier_score
from innersight_widgets.visualisation import PARTIAL_EVERY

SMALL = {"images": 2, "steps": 8, "size": 32}  # quick runs where the optimum does not matter


@pytest.fixture(scope="module")
def an():
    return Analysis(load_pretrained("shapes-cnn"), load_shapes("test", n=200), layers=["layer2", "layer3"],
                    progress=False)


@pytest.fixture(scope="module")
def communities(an):
    return an.communities("layer3")


def test_the_result_holds_images_in_display_space_and_the_objective_per_step(an, communities):
    found = visualise(an, (communities, 0), images=3, steps=5, size=32)
    assert isinstance(found, Visualisation)
    assert found.unit == "layer3 community 0" and found.kind == "community"
    assert found.images.shape == (3, 3, 32, 32) and found.images.dtype == np.float32
    assert 0 <= found.images.min() and found.images.max() <= 1
    assert found.objective.shape == (5, 3) and found.final.shape == (3,)
    assert found.settings["steps"] == 5 and found.settings["size"] == (32, 32) and found.settings["mean"] == (0.0,) * 3
    assert repr(found).startswith("Visualisation(layer3 community 0: 3 images 32x32, 5 steps, objective ")
    assert found.to_png(2, size=64)[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match=r"image must be an index in 0\.\.2, got 3"):
        found.to_png(3)


def test_the_default_size_is_the_models_input_size_and_a_list_gives_a_list(an, communities):
    found = visualise(an, [(communities, 1), "star", ("layer2", 4)], images=1, steps=2)
    assert [v.unit for v in found] == ["layer3 community 1", "logit 'star'", "layer2:4"]
    assert [v.kind for v in found] == ["community", "logit", "neuron"]
    assert all(v.images.shape == (1, 3, 64, 64) for v in found)


def test_the_objective_climbs(an, communities):
    found = visualise(an, (communities, 0), images=2, steps=48, size=32)
    assert (found.objective[-8:].mean(0) > found.objective[:8].mean(0) + 1).all()
    assert (found.final > found.objective[0]).all()


def test_the_same_seed_gives_the_same_images_and_another_seed_others(an, communities):
    # a second analysis of the same model and images: its cache is empty, so it optimises again
    fresh = Analysis(an.model, an.data, layers=an.layers, progress=False)
    first = visualise(an, (communities, 0), seed=3, **SMALL)
    again = visualise(fresh, (fresh.communities("layer3"), 0), seed=3, **SMALL)
    other = visualise(an, (communities, 0), seed=4, **SMALL)
    np.testing.assert_array_equal(first.images, again.images)
    np.testing.assert_array_equal(first.objective, again.objective)
    assert np.abs(first.images - other.images).max() > 1e-3


@pytest.mark.parametrize("fft", [True, False])
@pytest.mark.parametrize("decorrelate", [True, False])
def test_every_parametrisation_climbs(an, fft, decorrelate):
    found = visualise(an, ("layer3", 7), images=1, steps=24, size=32, fft=fft, decorrelate=decorrelate)
    assert found.final[0] > found.objective[0, 0]


def test_diversity_makes_the_images_of_one_unit_less_alike(an):
    def alike(images: np.ndarray) -> float:
        x = images.reshape(len(images), -1)
        x = x - x.mean(1, keepdims=True)
        x = x / np.linalg.norm(x, axis=1, keepdims=True)
        return float(((x @ x.T).sum() - len(x)) / (len(x) * (len(x) - 1)))

    plain = visualise(an, ("layer3", 5), images=3, steps=48, size=32)
    diverse = visualise(an, ("layer3", 5), images=3, steps=48, size=32, diversity=5.0)
    assert alike(diverse.images) < alike(plain.images) - 0.2


def test_the_views_can_read_the_signature_and_the_declared_bounds():
    signature = inspect.signature(visualise)
    assert list(signature.parameters)[:2] == ["analysis", "unit"]
    assert [n for n, p in signature.parameters.items() if p.kind is p.KEYWORD_ONLY] == [
        "images", "steps", "size", "learning_rate", "jitter", "scale", "rotate", "decorrelate", "fft", "decay",
        "diversity", "mean", "std", "seed", "should_stop", "on_progress", "on_partial",
    ]
    assert signature.parameters["steps"].default == 256 and signature.parameters["images"].default == 4
    assert visualise.constraints["steps"].low == 1 and visualise.constraints["jitter"].high == 0.5
    assert visualise.__doc__ == visualise.__wrapped__.__doc__


# ------------------------------------------------------------- what each unit maximises
def test_a_neurons_objective_is_its_activation_averaged_or_at_a_position(an):
    images = an.images(range(6))
    np.testing.assert_allclose(unit_objective(an, ("layer3", 9), images), an.profiles("layer3")[:6, 9], rtol=1e-5, atol=1e-5)
    maps = {}
    an.runner.forward(images, {"layer2": lambda out: maps.setdefault("a", out)}, stop_after="layer2")
    np.testing.assert_allclose(unit_objective(an, ("layer2", 4, (3, 5)), images), maps["a"][:, 4, 3, 5].numpy(), rtol=1e-5)


def test_a_class_objective_is_its_logit(an):
    np.testing.assert_allclose(unit_objective(an, ("logit", 2), an.images(range(6))), an.predictions.logits[:6, 2],
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(unit_objective(an, "triangle", an.images(range(3))),
                                  unit_objective(an, ("logit", "triangle"), an.images(range(3))))


def test_a_debugger_unit_is_the_mean_z_score_of_its_neurons(an, communities):
    report = an.evaluate(communities)
    as_unit = Unit("mine", "spec", communities.spec(2))
    np.testing.assert_allclose(unit_objective(an, as_unit, an.images(range(8))), report.scores[:8, 2], rtol=1e-4, atol=1e-4)
    assert visualise(an, as_unit, **SMALL).unit == "mine"


def test_a_circuit_groups_objective_is_the_circuits_log_barrier_score(an):
    circuit = build_circuit(an, "star", ["layer3"], tau=3, top_k=8, ig_steps=4, max_images=4)
    group = circuit.groups_of("logit")[0]
    expected = barrier_score(an.profiles(group.space_layer)[:8][:, group.space], np.asarray(group.vector))
    np.testing.assert_allclose(unit_objective(an, group, an.images(range(8))), expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(unit_objective(an, (circuit, group.id), an.images(range(3))),
                                  unit_objective(an, group, an.images(range(3))))
    assert visualise(an, (circuit, group.id), **SMALL).unit == f"group {group.id}"
    with pytest.raises(ValueError, match=rf"no group 'layer9/g0'; its groups are {group.id}"):
        visualise(an, (circuit, "layer9/g0"))


# ----------------------------------------------------------------- running the work
def test_every_step_runs_through_the_runner(an, communities, monkeypatch):
    calls = []
    forward = an.runner.forward
    monkeypatch.setattr(an.runner, "forward", lambda *a, **k: calls.append(k.get("grad")) or forward(*a, **k))
    visualise(an, (communities, 0), images=2, steps=6, size=32)
    assert calls == [True] * 6 + [False]  # one forward per step, and one of the final images


def test_progress_is_reported_after_each_step_and_should_stop_cancels(an, communities):
    seen = []
    visualise(an, (communities, 0), on_progress=lambda done, total: seen.append((done, total)), seed=11, **SMALL)
    assert seen == [(k, 8) for k in range(1, 9)]
    asked = []
    with pytest.raises(Cancelled):
        visualise(an, (communities, 0), should_stop=lambda: asked.append(1) or len(asked) > 3, seed=12, **SMALL)
    assert len(asked) == 4
    # a cancelled visualisation is not kept: asked again, it runs
    seen.clear()
    visualise(an, (communities, 0), on_progress=lambda done, total: seen.append(done), seed=12, **SMALL)
    assert seen == list(range(1, 9))


def test_a_visualisation_in_progress_is_shown_every_partial_every_steps(an, communities):
    partial = []
    found = visualise(an, (communities, 1), on_partial=partial.append, images=2, steps=2 * PARTIAL_EVERY + 5, size=32,
                      seed=5)
    assert [len(p.objective) for p in partial] == [PARTIAL_EVERY, 2 * PARTIAL_EVERY]
    assert all(p.unit == found.unit and p.images.shape == found.images.shape for p in partial)
    np.testing.assert_array_equal(partial[-1].objective, found.objective[: 2 * PARTIAL_EVERY])
    # each shows the images as they were then: its final is their objective, not the end's
    np.testing.assert_allclose(partial[0].final, unit_objective(an, (communities, 1), partial[0].inputs()), rtol=1e-4, atol=1e-4)
    assert np.abs(partial[-1].images - found.images).max() > 1e-4


def test_a_finished_visualisation_is_kept_with_the_analysis_for_any_unit_of_the_same_neurons(an, communities, monkeypatch):
    first = visualise(an, (communities, 2), seed=7, **SMALL)
    calls = []
    forward = an.runner.forward
    monkeypatch.setattr(an.runner, "forward", lambda *a, **k: calls.append(1) or forward(*a, **k))
    same_neurons = Unit("mine", "spec", {layer: tuple(reversed(n)) for layer, n in communities.spec(2).items()})
    again = visualise(an, same_neurons, seed=7, **SMALL)
    assert calls == [] and again.unit == "mine" and first.unit == "layer3 community 2"
    np.testing.assert_array_equal(again.images, first.images)
    visualise(an, same_neurons, seed=7, images=2, steps=9, size=32)  # other settings: optimised
    assert len(calls) > 9


def test_bf16_runs_through_the_runners_precision():
    an = Analysis(load_pretrained("shapes-cnn"), load_shapes("test", n=50), layers=["layer3"], precision="bf16",
                  progress=False)
    found = visualise(an, ("layer3", 3), images=1, steps=16, size=32)
    assert found.settings["precision"] == "bf16"
    assert np.isfinite(found.objective).all() and found.final[0] > found.objective[0, 0]


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_cuda_in_every_precision(precision):
    an = Analysis(load_pretrained("shapes-cnn"), load_shapes("test", n=50), layers=["layer3"], device="cuda",
                  precision=precision, progress=False)
    found = visualise(an, [("layer3", 3), "star"], images=2, steps=32)
    for one in found:
        assert one.settings["device"].startswith("cuda") and np.isfinite(one.images).all()
        assert (one.final > one.objective[0]).all()


# --------------------------------------------------------------------- normalisation
def test_normalised_probe_images_need_their_mean_and_std():
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    shapes = load_shapes("test", n=60)
    normalised = (shapes.images - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    model = load_pretrained("shapes-cnn")
    an = Analysis(model, ImageDataset(normalised, shapes.labels, shapes.class_names), layers=["layer3"], progress=False)
    with pytest.raises(ValueError, match=r"lie in \[-2\.\d\d, \d\.\d\d\], not in \[0, 1\]: give .* mean=\[\.\.\.\] and std"):
        visualise(an, ("layer3", 0), **SMALL)
    with pytest.raises(ValueError, match="give both mean and std"):
        visualise(an, ("layer3", 0), mean=mean, **SMALL)
    with pytest.raises(ValueError, match=r"std must be 3 finite positive numbers, one per channel, got \(1, 0, 1\)"):
        visualise(an, ("layer3", 0), mean=mean, std=(1, 0, 1), **SMALL)
    found = visualise(an, "star", mean=mean, std=std, **SMALL)
    assert found.settings["mean"] == pytest.approx(mean) and found.settings["std"] == pytest.approx(std)
    np.testing.assert_allclose(found.inputs().numpy(), (found.images - np.reshape(mean, (1, 3, 1, 1)))
                               / np.reshape(std, (1, 3, 1, 1)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(unit_objective(an, "star", found.inputs()), found.final, rtol=1e-4, atol=1e-4)


def test_an_image_folders_normalisation_is_used(tmp_path):
    from PIL import Image

    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        for i in range(3):
            pixels = np.random.default_rng([i, ord(name)]).integers(0, 255, (16, 16, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / name / f"{i}.png")
    from innersight_widgets import load_image_folder

    folder = load_image_folder(tmp_path, size=16, resize=16, mean=(0.4, 0.5, 0.6), std=(0.2, 0.3, 0.4))
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
    an = Analysis(model, folder, progress=False)
    found = visualise(an, ("0", 1), images=1, steps=2)
    assert found.settings["mean"] == pytest.approx((0.4, 0.5, 0.6)) and found.settings["std"] == pytest.approx((0.2, 0.3, 0.4))


def test_a_unit_silent_on_the_start_images_is_reported(tiny_data):
    model = nn.Sequential(nn.Conv2d(3, 2, 3), nn.ReLU(), nn.Flatten(), nn.LazyLinear(3))
    with torch.no_grad():
        model(torch.zeros(1, 3, 8, 8))
        model[0].bias.copy_(torch.tensor([-100.0, 1.0]))  # no image in [0, 1] lifts channel 0 above zero
    an = Analysis(model, tiny_data, progress=False)
    with pytest.warns(UserWarning, match=r"objective of 1:0 never moved from 0: the unit is silent"):
        visualise(an, ("1", 0), images=1, steps=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        visualise(an, ("1", 1), images=1, steps=1)  # one step: the final images differ from the start


# -------------------------------------------------------------------- wrong units
@pytest.mark.parametrize(
    ("unit", "error", "message"),
    [
        (("layer33", 0), ValueError, r"no layer named 'layer33'; did you mean 'layer3'"),
        (("layer3", 64), ValueError, r"neuron must be an index in 0\.\.63 for layer 'layer3', got 64"),
        (("layer3", 0, (4, 0)), ValueError, r"position must be \(y, x\) with y in 0\.\.3 and x in 0\.\.3"),
        (("fc", 0, (0, 0)), ValueError, r"a position \(y, x\) needs a 2-D map, and layer 'fc' has none"),
        ("hexagon", ValueError, r"unknown class 'hexagon'; the classes are circle, square, triangle, star"),
        (("logit", 4), ValueError, r"target_class must be a class index in 0\.\.3"),
        (Unit("u", "spec", {"layer1": (0,)}), ValueError, r"layer 'layer1' was not selected .*selected: layer2, layer3"),
        (3, TypeError, r"a unit is \(communities, c\), .* got int"),
        (("layer3",), TypeError, r"got a tuple of str"),
    ],
)
def test_a_wrong_unit_says_what_there_is(an, unit, error, message):
    with pytest.raises(error, match=message):
        visualise(an, unit, **SMALL)


def test_a_wrong_community_or_argument_says_what_is_allowed(an, communities):
    k = communities.num_communities
    with pytest.raises(ValueError, match=rf"community must be in 0\.\.{k - 1}, got {k}"):
        visualise(an, (communities, k))
    other = Analysis(load_pretrained("shapes-cnn"), load_shapes("test", n=50), layers=["layer1"], progress=False)
    with pytest.raises(ValueError, match=r"layer 'layer1' was not selected for this analysis \(selected: layer2, layer3\)"):
        visualise(an, (other.communities("layer1", warn=False), 0))
    with pytest.raises(ValueError, match=r"steps must be a positive integer \(optimisation steps\), got 0"):
        visualise(an, (communities, 0), steps=0)
    with pytest.raises(ValueError, match=r"jitter must be a number in \[0, 0\.5\]"):
        visualise(an, (communities, 0), jitter=0.7)
    with pytest.raises(ValueError, match="leave size out"):
        visualise(an, ("layer3", 0, (1, 1)), size=32)
    with pytest.raises(ValueError, match="unit is an empty list"):
        visualise(an, [])
