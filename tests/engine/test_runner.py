"""The execution seam: one runner for every forward, safe to share between threads,
out-of-memory retries, precision, and errors that name the layers."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from innersight_widgets import Analysis, build_circuit, load_pretrained, load_shapes
from innersight_widgets.engine.runner import ModelRunner
from innersight_widgets.neucept.critical import saliency

LAYERS = ["conv", "block.0", "tokens", "head"]


@pytest.fixture
def many_images(tiny_data):
    g = torch.Generator().manual_seed(7)
    return (torch.rand(300, 3, 8, 8, generator=g), torch.randint(0, 3, (300,), generator=g))


def _work(an: Analysis, which: str):
    """One unit of mixed work; returns numbers to compare with a sequential run."""
    if which == "ablate":
        return an.ablate({"conv": [0, 2], "tokens": [1]}).logits_after
    if which == "communities":
        return an.communities(["conv", "block.0", "tokens"], "louvain", stability_runs=0).labels
    if which == "flow":
        return an.flow("conv", "block.0", images=64)
    if which == "saliency":  # Integrated Gradients through the fx plan (tracing patches Module.__call__)
        return saliency(an, "block.0", 1, steps=4)
    return an.profiles("tokens")


def test_two_threads_share_one_analysis_without_errors_or_other_numbers(tiny_model, many_images):
    jobs = {"A": ["ablate", "flow", "saliency", "profiles", "ablate"], "B": ["communities", "ablate", "saliency", "flow", "profiles"]}
    reference_an = Analysis(tiny_model, many_images, layers=LAYERS, batch_size=16, progress=False)
    reference = {which: _work(reference_an, which) for which in {j for js in jobs.values() for j in js}}
    for trial in range(10):
        an = Analysis(tiny_model, many_images, layers=LAYERS, batch_size=16, progress=False)
        results: dict[str, list] = {}
        errors: list[BaseException] = []
        start = threading.Barrier(2)

        def run(name: str) -> None:
            try:
                start.wait()
                results[name] = [(which, _work(an, which)) for which in jobs[name]]
            except BaseException as exc:  # noqa: BLE001 - collected and reported by the test
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(name,)) for name in jobs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, f"trial {trial}: {errors!r}"
        for name in jobs:
            for which, value in results[name]:
                np.testing.assert_allclose(value, reference[which], rtol=1e-5, atol=1e-6, err_msg=f"{which} in trial {trial}")
    assert all(not m._forward_hooks for m in tiny_model.modules())


def test_hooks_act_only_for_the_thread_that_attached_them(tiny_model, tiny_data):
    runner = ModelRunner(tiny_model)
    x = tiny_data.images[:4]
    plain = tiny_model(x).detach()
    inside, outside = threading.Event(), threading.Event()
    seen = {}

    def zero(out):
        inside.set()
        outside.wait(5)  # another thread runs the model while this hook is attached
        return torch.zeros_like(out)

    def other():
        inside.wait(5)
        with torch.no_grad():
            seen["other"] = tiny_model(x)
        outside.set()

    t = threading.Thread(target=other)
    t.start()
    zeroed = runner.forward(x, {"conv": zero})
    t.join()
    torch.testing.assert_close(seen["other"], plain)  # untouched by our hook
    assert not torch.allclose(zeroed, plain)


def test_out_of_memory_halves_the_batch_and_redoes_the_work(tiny_model):
    runner = ModelRunner(tiny_model, batch_size=8)
    done: list[tuple[int, int]] = []
    failures = {"left": 2}

    def work(rows: slice) -> None:
        if rows.stop - rows.start > 2 and failures["left"]:
            failures["left"] -= 1
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        done.append((rows.start, rows.stop))

    runner.in_batches(11, work)
    covered = sorted(i for a, b in done for i in range(a, b))
    assert covered == list(range(11))  # every item once, none lost, none twice
    assert max(b - a for a, b in done) == 2  # halved twice: 8 -> 4 -> 2


def test_other_errors_are_not_mistaken_for_out_of_memory(tiny_model):
    runner = ModelRunner(tiny_model, batch_size=8)

    def work(rows: slice) -> None:
        raise RuntimeError("a real bug")

    with pytest.raises(RuntimeError, match="a real bug"):
        runner.in_batches(4, work)


def test_an_analysis_survives_out_of_memory_in_the_pass(tiny_model, tiny_data, monkeypatch):
    expected = Analysis(tiny_model, tiny_data, layers=LAYERS, progress=False).profiles("conv")
    an = Analysis(tiny_model, tiny_data, layers=LAYERS, batch_size=16, progress=False)
    real = an.runner.forward
    state = {"failed": 0}

    def flaky(x, hooks=None, stop_after=None, grad=False):
        if len(x) > 4 and state["failed"] < 3:
            state["failed"] += 1
            raise torch.cuda.OutOfMemoryError("simulated")
        return real(x, hooks, stop_after, grad)

    monkeypatch.setattr(an.runner, "forward", flaky)
    np.testing.assert_allclose(an.profiles("conv"), expected, rtol=1e-6, atol=1e-6)
    assert state["failed"] == 3


def test_bf16_autocast_on_the_cpu_keeps_statistics_in_fp32(tiny_model, tiny_data):
    full = Analysis(tiny_model, tiny_data, layers=LAYERS, progress=False)
    low = Analysis(tiny_model, tiny_data, layers=LAYERS, progress=False, precision="bf16")
    assert low.profiles("conv").dtype == np.float32 and low.predictions.logits.dtype == np.float32
    assert not np.array_equal(low.profiles("conv"), full.profiles("conv"))  # the forward really ran in bf16
    np.testing.assert_allclose(low.profiles("conv"), full.profiles("conv"), atol=0.05)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"precision": "fp8"}, "precision must be"),
        ({"precision": "fp16", "device": "cpu"}, "needs a CUDA device"),
        ({"batch_size": 0}, "batch_size must be a positive integer"),
        ({"profiles_dtype": "int8"}, "profiles_dtype"),
        ({"memmap_threshold": -1}, "memmap_threshold"),
    ],
)
def test_bad_settings_are_explained(tiny_model, tiny_data, kwargs, message):
    with pytest.raises(ValueError, match=message):
        Analysis(tiny_model, tiny_data, progress=False, **kwargs)


def test_no_module_but_the_runner_registers_hooks():
    import pathlib
    import re

    package = pathlib.Path(__file__).parents[2] / "innersight_widgets"
    users = {
        str(p.relative_to(package)) for p in package.rglob("*.py") if re.search(r"register_forward(_pre)?_hook", p.read_text())
    }
    assert users == {"engine/runner.py"}


def test_a_circuit_over_layers_that_do_not_feed_each_other_names_them():
    an = Analysis(load_pretrained("shapes-cnn"), load_shapes("test", n=40), layers=["layer3"], progress=False)
    # the order the "high to low" message suggests for ["layer3.conv2", "layer3.shortcut.0"]
    with pytest.raises(ValueError, match=r"'layer3.conv2' does not feed 'layer3.shortcut.0'"):
        build_circuit(an, "star", ["layer3.shortcut.0", "layer3.conv2"])


def test_results_holding_arrays_compare_by_identity(tiny_model, tiny_data):
    an = Analysis(tiny_model, tiny_data, layers=LAYERS, progress=False)
    a, b = an.ablate({"conv": [0]}), an.ablate({"conv": [0]})
    assert a == a and a != b  # no "truth value of an array is ambiguous"
    assert an.predictions != an.predictions
    report = an.evaluate(an.communities(["conv", "block.0"], stability_runs=0))
    assert report.flow("gradient") is report.flow("gradient")
    assert report.flow("gradient") is not report.flow("weights")
    assert not np.array_equal(report.flow("gradient", images=8), report.flow("gradient", images=30))


def test_out_of_memory_with_many_ablations_splits_the_ablations(tiny_model, tiny_data, monkeypatch):
    specs = [{"conv": [i % 4]} for i in range(8)]
    an = Analysis(tiny_model, tiny_data, layers=LAYERS, batch_size=8, progress=False)
    expected = [r.logits_after for r in an.ablate_many(specs)]
    real = an.runner.forward

    def limited(x, hooks=None, stop_after=None, grad=False):
        if len(x) > 4:  # as if no more than 4 images fit, whatever they are copies of
            raise torch.cuda.OutOfMemoryError("simulated")
        return real(x, hooks, stop_after, grad)

    monkeypatch.setattr(an.runner, "forward", limited)
    for result, want in zip(an.ablate_many(specs), expected):
        np.testing.assert_allclose(result.logits_after, want, rtol=1e-5, atol=1e-6)


def test_a_selected_layer_that_skips_some_images_is_an_error_not_empty_rows(tiny_data):
    class Branchy(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3)
            self.rare = torch.nn.Conv2d(4, 4, 1)
            self.head = torch.nn.Linear(4, 3)

        def forward(self, x):
            h = self.conv(x)
            if x.shape[0] < 5:  # only small batches take this branch
                h = self.rare(h)
            return self.head(h.mean(dim=(2, 3)))

    an = Analysis(Branchy(), tiny_data, layers=["conv", "rare"], batch_size=16, progress=False)
    with pytest.raises(ValueError, match="'rare' did not run for images 0..15"):
        an.profiles("rare")
