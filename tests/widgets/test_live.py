"""The live runner every widget computes through: newest request wins, the status line never
goes back in time, errors are shown and clear what they would have replaced."""

import threading

import pytest

from innersight_widgets.engine.runner import Cancelled
from innersight_widgets.widgets._live import LiveRunner
from innersight_widgets.widgets._status import StatusLine


def kind(runner):
    return runner.status.value.split('data-kind="')[1].split('"')[0]


def gate():
    started, release = threading.Event(), threading.Event()

    def compute(job):
        started.set()
        assert release.wait(10)
        return job.generation

    return started, release, compute


def test_an_older_requests_idle_never_replaces_a_newer_busy():
    runner = LiveRunner(StatusLine("t"), debounce=0)
    first_started, first_release, first = gate()
    second_started, second_release, second = gate()
    runner.submit("details", "loading details …", first, lambda g: f"details {g} done")
    assert first_started.wait(5)
    runner.submit("mode", "redrawing …", second, lambda g: f"redrawn {g}")
    assert kind(runner) == "busy" and "redrawing" in runner.status.value
    first_release.set()
    assert second_started.wait(5)  # the first has been applied; the second runs
    assert kind(runner) == "busy" and "redrawing" in runner.status.value
    second_release.set()
    runner.wait()
    assert kind(runner) == "idle" and "redrawn 2" in runner.status.value


def test_a_newer_request_on_a_channel_cancels_the_older_between_batches():
    runner = LiveRunner(StatusLine("t"), debounce=0)
    started, stopped, applied = threading.Event(), [], []

    def long(job):
        started.set()
        for _ in range(500):
            if job.stale():
                stopped.append(job.generation)
                raise Cancelled("replaced")
            threading.Event().wait(0.01)
        return "old"

    runner.submit("partition", "old …", long, applied.append)
    assert started.wait(5)
    runner.submit("partition", "new …", lambda job: "new", lambda r: (applied.append(r), "new shown")[1])
    runner.wait()
    assert stopped == [1] and applied == ["new"] and "new shown" in runner.status.value


def test_other_channels_named_in_cancels_are_made_stale():
    runner = LiveRunner(StatusLine("t"), debounce=0)
    started, release, compute = gate()
    applied = []
    runner.submit("details", "details …", compute, lambda r: applied.append("details"))
    assert started.wait(5)
    runner.submit("partition", "partition …", lambda job: 1, lambda r: (applied.append("partition"), "drawn")[1], cancels=("details",))
    release.set()
    runner.wait()
    assert applied == ["partition"] and kind(runner) == "idle"


def test_an_error_is_shown_clears_its_part_and_never_leaves_the_status_busy():
    runner = LiveRunner(StatusLine("t"), debounce=0)
    cleared = []

    def broken(job):
        raise RuntimeError("out of <luck>")

    runner.submit("fit", "fitting …", broken, lambda r: "never", on_error=lambda: cleared.append(True))
    runner.wait()
    assert kind(runner) == "error" and "RuntimeError: out of &lt;luck&gt;" in runner.status.value
    assert cleared == [True] and isinstance(runner.status.last_error, RuntimeError)
    runner.submit("fit", "fitting …", lambda job: 1, lambda r: "fitted")
    runner.wait()
    assert kind(runner) == "idle" and "fitted" in runner.status.value


def test_partial_results_of_a_replaced_request_are_dropped():
    runner = LiveRunner(StatusLine("t"), debounce=0)
    shown, started, release = [], threading.Event(), threading.Event()

    def progressive(job):
        job.post(shown.append, "first half")
        started.set()
        assert release.wait(5)
        job.post(shown.append, "second half")  # replaced by then: dropped
        return None

    runner.submit("importance", "testing …", progressive, lambda r: None)
    assert started.wait(5)
    runner.submit("importance", "testing again …", lambda job: None, lambda r: "done")
    release.set()
    runner.wait()
    assert shown == ["first half"]


@pytest.mark.parametrize("debounce", [-1, float("nan"), "soon", True])
def test_a_bad_debounce_is_refused(debounce):
    with pytest.raises(ValueError, match="debounce must be a number of seconds"):
        LiveRunner(StatusLine("t"), debounce=debounce)
