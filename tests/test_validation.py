"""Declared parameter constraints (``innersight_widgets._validation``): the one message format,
booleans never counted as integers, bounds open or closed, None, the exception for a wrong
type, and the declarations that the core and the widgets share, so that they cannot drift."""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest
import torch

from innersight_widgets import (
    Analysis,
    Circuit,
    CircuitView,
    CommunityExplorer,
    CriticalNeuronsView,
    ImageDataset,
    MisclassificationDebugger,
)
from innersight_widgets._validation import Interval, Options, check, validate_params
from innersight_widgets.data import ImageFolder, ProbeSet, load_digits, load_image_folder, load_shapes
from innersight_widgets.engine import ABLATION_MODE, FLOW_METHOD, ModelRunner, Probe
from innersight_widgets.innersightnet.aggregation import METHOD, PARAMETERS, SEED, STABILITY_RUNS, Communities
from innersight_widgets.widgets._controls import SLIDERS, CommunityControls
from innersight_widgets.widgets._live import DEBOUNCE


# ------------------------------------------------------------------ the messages
@pytest.mark.parametrize(
    "constraint, value, message",
    [
        (Interval(int, 1, meaning="top images wanted"), 0, "k must be a positive integer (top images wanted), got 0"),
        (Interval(int, 1), "many", "k must be a positive integer, got 'many'"),
        (Interval(int, 0), -1, "k must be a non-negative integer, got -1"),
        (Interval(int, 2), 1, "k must be an integer >= 2, got 1"),
        (Interval(int, 0, 50), 51, "k must be an integer in 0..50, got 51"),
        (Interval(int, None, 5), 6, "k must be an integer <= 5, got 6"),
        (Interval(float, 0, unit="seconds", meaning="0: no waiting"), -1, "k must be a number of seconds >= 0 (0: no waiting), got -1"),
        (Interval(float, 0, 1, closed="right"), 0, "k must be a number in (0, 1], got 0"),
        (Interval(float, 0, 1, closed="neither"), 1.5, "k must be a number in (0, 1), got 1.5"),
        (Interval(float, 0, closed="neither"), 0.0, "k must be a number > 0, got 0.0"),
        (Interval(float), "x", "k must be a finite number, got 'x'"),
        (Options("zero", "mean"), "random", "k must be 'zero' or 'mean', got 'random'"),
        (Options("a", "b", "c", meaning="a letter"), "d", "k must be one of 'a', 'b', 'c' (a letter), got 'd'"),
    ],
)
def test_a_refused_value_gets_one_sentence_naming_what_is_wanted(constraint, value, message):
    with pytest.raises(ValueError) as refused:
        check("k", value, constraint)
    assert str(refused.value) == message


@pytest.mark.parametrize(
    "constraint",
    [Interval(int), Interval(int, 0, 50), Interval(int, 1, none=True), Interval(float), Interval(float, 0, 1), Options(0, 1)],
)
@pytest.mark.parametrize("value", [True, False, np.True_, np.bool_(False)])
def test_a_boolean_is_never_a_number(constraint, value):
    assert not constraint.accepts(value)
    with pytest.raises(ValueError, match=r"got (np\.)?(True|False)_?$"):
        check("n", value, constraint)


def test_accepted_numbers_come_back_as_python_numbers():
    for value in (3, np.int64(3), np.uint8(3), torch.tensor(3).item()):
        got = check("n", value, Interval(int, 1, 5))
        assert got == 3 and type(got) is int
    for value in (0.5, np.float32(0.5), np.float64(0.5), 1):
        got = check("x", value, Interval(float, 0, 1))
        assert got == pytest.approx(value) and type(got) is float
    assert check("mode", "mean", Options("zero", "mean")) == "mean"


@pytest.mark.parametrize(
    "closed, accepted, refused",
    [
        ("both", [0.0, 0.5, 1.0], [-0.1, 1.1]),
        ("left", [0.0, 0.5], [1.0]),
        ("right", [0.5, 1.0], [0.0]),
        ("neither", [0.5], [0.0, 1.0]),
    ],
)
def test_real_bounds_are_open_or_closed_as_declared(closed, accepted, refused):
    interval = Interval(float, 0, 1, closed=closed)
    assert all(interval.accepts(v) for v in accepted)
    assert not any(interval.accepts(v) for v in refused)


def test_integer_bounds_are_always_closed_and_non_finite_numbers_are_refused():
    assert Interval(int, 0, 3, closed="neither").accepts(0) and Interval(int, 0, 3, closed="neither").accepts(3)
    assert not any(Interval(float).accepts(v) for v in (math.nan, math.inf, -math.inf, np.float32("nan")))


def test_none_is_accepted_only_where_declared():
    assert check("images", None, Interval(int, 1, none=True)) is None
    with pytest.raises(ValueError, match="images must be a positive integer, got None"):
        check("images", None, Interval(int, 1))


def test_the_wrong_type_may_raise_type_error_but_a_value_out_of_bounds_raises_value_error():
    size = Interval(int, 1, wrong_type=TypeError)
    with pytest.raises(TypeError, match="size must be a positive integer, got 2.5"):
        check("size", 2.5, size)
    with pytest.raises(TypeError, match="got True"):
        check("size", True, size)
    with pytest.raises(ValueError, match="got 0"):
        check("size", 0, size)
    with pytest.raises(TypeError):
        check("mode", "x", Options("a", "b", wrong_type=TypeError))


# ------------------------------------------------------------------ validate_params
def test_validate_params_checks_converts_and_exposes_the_declaration():
    declared = {"k": Interval(int, 1, 10, meaning="how many"), "mode": Options("zero", "mean")}

    @validate_params(declared)
    def top(data, k: int = 16, *, mode: str = "zero"):
        """Top k."""
        return k, mode

    assert top.constraints == declared and top.constraints is not declared
    assert top.__name__ == "top" and top.__doc__ == "Top k." and top.__wrapped__.__name__ == "top"
    assert str(inspect.signature(top)) == "(data, k: 'int' = 16, *, mode: 'str' = 'zero')"
    got = top(None, np.int64(3), mode="mean")
    assert got == (3, "mean") and type(got[0]) is int
    assert top(None) == (16, "zero")  # defaults are the author's, not checked
    with pytest.raises(ValueError, match=r"^k must be an integer in 1..10 \(how many\), got 11$"):
        top(None, 11)
    with pytest.raises(ValueError, match="mode must be 'zero' or 'mean', got 'max'"):
        top(None, mode="max")
    with pytest.raises(TypeError, match="positional argument"):  # Python's own message for a wrong call
        top(None, 3, "mean")


def test_a_declaration_naming_no_parameter_is_refused_when_declared():
    with pytest.raises(TypeError, match="has no parameter.*top_k"):

        @validate_params({"top_k": Interval(int, 1)})
        def top(k: int = 16):
            return k


def test_decorated_public_methods_keep_their_signatures_and_docs():
    for method, keyword_only in [
        (Analysis.communities, ["seed", "stability_runs", "should_stop", "warn"]),
        (Analysis.neuron_graph, []),
        (Probe.top_images, []),
        (Probe.ablate, []),
        (Probe.ablate_many, []),
        (Probe.flow, []),
        (load_shapes, []),
        (load_digits, []),
        (load_image_folder, ["resize", "mean", "std", "num_workers", "extensions", "classes", "on_bad_image"]),
    ]:
        signature = inspect.signature(method)
        assert signature == inspect.signature(method.__wrapped__)
        assert [n for n, p in signature.parameters.items() if p.kind is p.KEYWORD_ONLY] == keyword_only
        assert method.__doc__ and method.__doc__ == method.__wrapped__.__doc__
        assert method.constraints
    assert list(inspect.signature(Analysis.communities).parameters)[-1] == "params"  # **params still there


# ------------------------------------------------------------------ the declarations the core and widgets share
@pytest.fixture(scope="module")
def analysis():
    g = torch.Generator().manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Flatten(), torch.nn.LazyLinear(2))
    model(torch.zeros(1, 3, 8, 8))
    return Analysis(model, (torch.rand(20, 3, 8, 8, generator=g), torch.arange(20) % 2), progress=False)


def test_stability_runs_true_is_refused_by_the_core_and_the_explorer_alike(analysis):
    with pytest.raises(ValueError) as core:
        analysis.communities(stability_runs=True)
    with pytest.raises(ValueError) as aggregator:
        analysis.aggregator().communities("louvain", {}, 0, True)
    with pytest.raises(ValueError) as explorer:
        CommunityExplorer(analysis, stability_runs=True)
    assert str(core.value) == str(aggregator.value) == str(explorer.value) == (
        "stability_runs must be an integer in 0..50 (re-runs the stability figure compares the partition "
        "with; 0: not measured), got True"
    )
    assert CommunityExplorer.constraints["stability_runs"] is Analysis.communities.constraints["stability_runs"]
    assert Analysis.communities.constraints["stability_runs"] is STABILITY_RUNS


def test_the_explorers_stability_control_ends_where_the_declaration_does(analysis):
    explorer = CommunityExplorer(analysis, stability_runs=STABILITY_RUNS.high, debounce=0.0, draws=2)
    explorer.wait()
    control = explorer.stability_runs
    assert (control.min, control.max) == (STABILITY_RUNS.low, STABILITY_RUNS.high) == (0, 50)
    assert control.value == STABILITY_RUNS.high
    assert explorer.k.max == PARAMETERS["k"].high and explorer.k.min == PARAMETERS["k"].low
    assert explorer.method.options == METHOD.values


def test_the_debuggers_modes_are_the_probes(analysis):
    assert MisclassificationDebugger.constraints["mode"] is Analysis.ablate_many.constraints["mode"] is ABLATION_MODE
    debugger = MisclassificationDebugger(analysis, debounce=0.0)
    debugger.wait()
    assert debugger.mode.options == ABLATION_MODE.values == ("zero", "mean")
    with pytest.raises(ValueError) as core:
        analysis.ablate_many([{analysis.layers[0]: [0]}], mode="random")
    with pytest.raises(ValueError) as widget:
        MisclassificationDebugger(analysis, mode="random")
    assert str(core.value) == str(widget.value)
    assert str(core.value).startswith("mode must be 'zero' or 'mean' (")


def test_the_community_controls_offer_the_declared_methods_inside_the_declared_ranges():
    controls = CommunityControls("spectral", lambda: None)
    assert controls.method.options == METHOD.values == tuple(SLIDERS)
    assert (controls.k.min, controls.k.max) == (PARAMETERS["k"].low, PARAMETERS["k"].high)
    for method, (name, _label, low, high, _step) in SLIDERS.items():
        declared = PARAMETERS[name]
        assert declared.low <= low < high <= declared.high, (method, name)
    assert PARAMETERS["min_corr"].low <= controls.min_corr.min < controls.min_corr.max <= PARAMETERS["min_corr"].high
    with pytest.raises(ValueError, match="unknown method 'kmeans'; choose one of louvain, leiden, agglomerative, spectral"):
        CommunityControls("kmeans", lambda: None)


def test_widgets_take_the_bounds_of_the_core_functions_their_arguments_go_to():
    from innersight_widgets.debugging import diagnose
    from innersight_widgets.innersightnet import CommunityReport
    from innersight_widgets.neucept import critical_neurons

    assert CommunityExplorer.constraints["draws"] is CommunityReport.importance.constraints["draws"]
    assert CriticalNeuronsView.constraints["runs"] is critical_neurons.constraints["runs"]
    assert MisclassificationDebugger.constraints["top_k"] is diagnose.constraints["top_k"]
    assert set(CircuitView.constraints) == {"crops_per_group", "feature_steps"}
    # the feature panels' steps go to visualise, which takes 1 or more; the widgets take 0 too (no panel)
    assert CircuitView.constraints["feature_steps"] is CommunityExplorer.constraints["feature_steps"]
    assert CommunityExplorer.constraints["feature_steps"].low == 0


# ------------------------------------------------------------------ every integer check refuses a boolean
def _circuit():
    return Circuit(0, "a", [], {}, {}, {}, [], [], [], np.zeros((0, 5), dtype=np.int64))


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda an: an.communities(seed=True), "seed"),
        (lambda an: an.communities(k=True), "k"),
        (lambda an: an.communities(resolution=True), "resolution"),
        (lambda an: an.top_images(an.layers[0], 0, k=True), "k"),
        (lambda an: an.flow(an.layers[0], an.layers[-1], images=True), "images"),
        (lambda an: an.neuron_graph(flow_top=True), "flow_top"),
        (lambda an: an.class_index(True), "target_class"),
        (lambda an: an.check_neuron(an.layer_info(an.layers[0]), True), "neuron"),
        (lambda an: Communities("x", {}, 0, [("a", 0)], np.zeros(1, int), 0.0, None).check_community(True), "community"),
        (lambda an: Analysis(an.model, an.data, progress=False, memmap_threshold=True), "memmap_threshold"),
        (lambda an: ModelRunner(an.model, "cpu", batch_size=True), "batch_size"),
        (lambda an: ProbeSet(ImageDataset(torch.rand(2, 3, 8, 8), torch.zeros(2, dtype=torch.long)), num_workers=True), "num_workers"),
        (lambda an: load_shapes("test", n=True), "n"),
        (lambda an: load_shapes("test", seed=True), "seed"),
        (lambda an: CommunityExplorer(an, top_k=True), "top_k"),
        (lambda an: CommunityExplorer(an, images=True), "images"),
        (lambda an: CommunityExplorer(an, debounce=True), "debounce"),
        (lambda an: MisclassificationDebugger(an, units_shown=True), "units_shown"),
        (lambda an: CriticalNeuronsView(an, runs=True), "runs"),
        (lambda an: CircuitView(_circuit(), crops_per_group=True), "crops_per_group"),
    ],
)
def test_every_integer_check_refuses_a_boolean(analysis, call, name):
    with pytest.raises(ValueError, match=rf"^{name} must .*got True"):
        call(analysis)


def test_image_folder_refuses_a_boolean_size_as_the_wrong_type(tmp_path):
    with pytest.raises(TypeError, match="size must be a positive integer .*got True"):
        ImageFolder(tmp_path, size=True)
    with pytest.raises(ValueError, match=r"num_workers must be a non-negative integer \(0 reads images in the main process\), got True"):
        ImageFolder(tmp_path, size=8, num_workers=True)


def test_the_cores_other_declarations():
    assert Probe.constraints["pooling"].values == ("mean", "max")
    assert ModelRunner.constraints["precision"].values == ("fp32", "bf16", "fp16")
    assert FLOW_METHOD.values == ("gradient", "weights")
    assert SEED.low == 0 and SEED.high is None
    assert DEBOUNCE.accepts(0) and not DEBOUNCE.accepts(-0.1)
