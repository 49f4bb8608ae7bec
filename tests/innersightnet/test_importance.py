"""The importance test of a community: on a sample of images, filling in as it runs, stoppable."""

import itertools
import math
import warnings

import numpy as np
import pytest

from innersight_widgets import Analysis, load_pretrained, load_shapes
from innersight_widgets.engine.runner import Cancelled

N = 400


@pytest.fixture(scope="module")
def shapes_report():
    """shapes-cnn on 400 test images; Louvain on layer3 plants one community per shape."""
    an = Analysis(load_pretrained("shapes-cnn"), load_shapes("test", n=N), layers=["layer3"], progress=False)
    return an.evaluate(an.communities("layer3", "louvain", stability_runs=0))


def fresh(report):
    """A report on the same partition with nothing cached."""
    return report.analysis.evaluate(report.communities)


def recording(monkeypatch, an):
    """Record the specs and images of every ``ablate_many`` call of ``an``."""
    calls = []
    real = an.ablate_many

    def spy(specs, *args, images=None, **kwargs):
        calls.append(([{layer: list(v) for layer, v in spec.items()} for spec in specs], images))
        return real(specs, *args, images=images, **kwargs)

    monkeypatch.setattr(an, "ablate_many", spy)
    return calls


def strongest(report):
    """The community whose zeroing hurts accuracy most on all images (its shape's community)."""
    return max(range(report.num_communities), key=lambda c: report.analysis.ablate(report.communities.spec(c)).accuracy_drop)


def accuracy_on(logits, labels, rows):
    return (logits[rows].argmax(1) == labels[rows]).mean()


def test_a_sample_of_images_gives_the_drops_of_those_images_ablated_by_hand(shapes_report, monkeypatch):
    report = fresh(shapes_report)
    an = report.analysis
    c = strongest(report)
    calls = recording(monkeypatch, an)
    imp = report.importance(c, draws=6, seed=3, images=150)
    samples = [images for _, images in calls]
    idx = samples[0]
    # one sample of 150 distinct images, sorted, the same for the community and every random set
    assert len(idx) == 150 and np.all(np.diff(idx) > 0) and 0 <= idx[0] and idx[-1] < N
    assert all(np.array_equal(s, idx) for s in samples)
    specs = [spec for group, _ in calls for spec in group]
    assert specs[0] == report.communities.spec(c) and len(specs) == 7
    assert imp.images == 150 and imp.to_dict()["images"] == 150

    # the same ablations on all images, restricted to the sample by hand
    labels = an.labels
    for spec, drop in zip(specs, [imp.accuracy_drop, *imp.null_drops]):
        full = an.ablate(spec)
        by_hand = accuracy_on(full.logits_before, labels, idx) - accuracy_on(full.logits_after, labels, idx)
        assert drop == pytest.approx(by_hand, abs=1e-12)
        sampled = an.ablate_many([spec], images=idx)[0]
        np.testing.assert_allclose(sampled.logits_after, full.logits_after[idx], rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(sampled.labels, labels[idx])
    own = an.ablate_many([specs[0]], images=idx)[0]
    np.testing.assert_array_equal(imp.class_accuracy_drop, own.class_accuracy_before - own.class_accuracy_after)
    np.testing.assert_array_equal(imp.own_logit_change, own.own_logit_change)

    # the sample depends on the seed alone: another community is tested on the same images
    calls.clear()
    report.importance((c + 1) % report.num_communities, draws=2, seed=3, images=150)
    assert all(np.array_equal(images, idx) for _, images in calls)
    calls.clear()
    report.importance(c, draws=2, seed=4, images=150)
    assert not np.array_equal(calls[0][1], idx)


def test_a_sample_still_finds_the_planted_shape_community(shapes_report):
    report = fresh(shapes_report)
    c = strongest(report)
    imp = report.importance(c, draws=20, images=200)
    assert imp.images == 200
    assert imp.p_value < 0.05 and imp.accuracy_drop > 0.1 and imp.null_mean < 0.02
    assert np.nanmax(imp.class_accuracy_drop) > 0.5  # its shape is lost


def test_all_images_and_more_than_all_are_the_same_test(shapes_report, monkeypatch):
    report = fresh(shapes_report)
    calls = recording(monkeypatch, report.analysis)
    every = report.importance(0, draws=3)
    assert every.images == N and all(images is None for _, images in calls)
    assert report.importance(0, draws=3, images=10 * N) is every  # kept under the images used
    sampled = report.importance(0, draws=3, images=100)
    assert sampled is not every and sampled.images == 100


def test_the_test_fills_in_and_ends_where_a_plain_call_does(shapes_report):
    report = fresh(shapes_report)
    c = strongest(report)
    partials, progress = [], []
    final = report.importance(
        c, draws=20, images=200, on_partial=partials.append, on_progress=lambda d, t: progress.append((d, t))
    )
    first = partials[0]
    assert len(first.null_drops) == 0 and first.null_class_drops.shape == (0, 4)
    assert first.accuracy_drop == final.accuracy_drop
    np.testing.assert_array_equal(first.own_logit_change, final.own_logit_change)
    draws = [len(p.null_drops) for p in partials]
    assert draws[0] == 0 and np.all(np.diff(draws) > 0) and len(draws) >= 3
    assert partials[-1] is final and draws[-1] == 20
    for earlier, later in itertools.pairwise(partials):  # each partial extends the one before
        np.testing.assert_array_equal(later.null_drops[: len(earlier.null_drops)], earlier.null_drops)
    # progress runs over the whole test: 21 copies of the 200 images
    assert progress[-1] == (21 * 200, 21 * 200)
    assert {t for _, t in progress} == {21 * 200} and [d for d, _ in progress] == sorted(d for d, _ in progress)

    plain = fresh(report).importance(c, draws=20, images=200)
    assert plain.accuracy_drop == final.accuracy_drop
    np.testing.assert_array_equal(plain.null_drops, final.null_drops)
    np.testing.assert_array_equal(plain.null_class_drops, final.null_class_drops)
    np.testing.assert_array_equal(plain.own_logit_change, final.own_logit_change)

    again = []
    assert report.importance(c, draws=20, images=200, on_partial=again.append) is final
    assert again == [final]  # a kept result is handed over once


def test_a_test_without_random_sets_yet_reports_nan_without_warnings(shapes_report):
    partials = []
    fresh(shapes_report).importance(0, draws=2, images=50, on_partial=partials.append)
    empty = partials[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert all(math.isnan(v) for v in (empty.null_mean, empty.null_std, empty.z_score, empty.p_value))
        summary = empty.to_dict()
    assert summary["draws"] == 0 and summary["images"] == 50
    assert all(math.isnan(v) for v in summary["null_class_drop_mean"])


@pytest.mark.parametrize("images", [0, -3, "many", True, 2.5])
def test_bad_image_counts_are_explained(shapes_report, images):
    with pytest.raises(ValueError, match=rf"images must be a positive number of probe images .* None for all {N}; got {images!r}"):
        shapes_report.importance(0, draws=2, images=images)


def test_a_stop_request_ends_the_test_between_batches_and_keeps_nothing(shapes_report):
    report = fresh(shapes_report)
    partials = []
    with pytest.raises(Cancelled):  # stop once the community's own drop is shown
        report.importance(0, draws=6, images=100, on_partial=partials.append, should_stop=lambda: bool(partials))
    assert [len(p.null_drops) for p in partials] == [0]
    asked = []
    with pytest.raises(Cancelled):
        report.importance(0, draws=6, images=100, should_stop=lambda: asked.append(1) or len(asked) > 1)
    assert len(asked) == 2
    done = report.importance(0, draws=6, images=100)
    assert len(done.null_drops) == 6
