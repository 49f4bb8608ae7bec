"""Misclassification debugging on shapes-spurious-cnn, whose planted shortcut is known: it
calls shapes by the colour the training split paired with each class."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from innersight_widgets import (
    COLOURS,
    Analysis,
    Unit,
    diagnose,
    intervene,
    load_pretrained,
    load_shapes,
)
from innersight_widgets.engine.runner import Cancelled

LAYERS = ["layer1", "layer2", "layer3"]


@pytest.fixture(scope="module")
def data():
    return load_shapes("test")


@pytest.fixture(scope="module")
def an(data):
    return Analysis(load_pretrained("shapes-spurious-cnn"), data, layers=LAYERS, progress=False)


@pytest.fixture(scope="module")
def colour_confusions(an, data):
    """(true s, predicted t, images): the errors s -> t whose colour is t's training colour
    (shape i was trained in colour i), for the confusions with at least 10 of them."""
    colour = data.concepts["colour"].values
    found = [(s, t, images[colour[images] == t]) for s, t, images in an.confusions().errors]
    return [(s, t, images) for s, t, images in found if len(images) >= 10]


@pytest.fixture(scope="module")
def top_units(an, colour_confusions):
    """Per colour confusion: the top-ranked unit of the default diagnosis and the share of
    the confusion's errors that zeroing it fixes."""
    out = []
    for _, _, images in colour_confusions:
        top = diagnose(an, images).units[0]
        out.append((top, float(intervene(an, top, images).fix_rate[0])))
    return out


# ------------------------------------------------------------------ confusions
def test_the_confusion_table_counts_every_image_once_and_groups_the_errors(an):
    table = an.confusions()
    predictions = an.predictions
    counts = table.counts
    assert counts.sum() == len(an.data)
    assert np.trace(counts) == predictions.correct.sum()
    sizes = [len(images) for _, _, images in table.errors]
    assert sizes == sorted(sizes, reverse=True) and sum(sizes) == (~predictions.correct).sum()
    for t, p, images in table.errors:
        assert t != p and counts[t, p] == len(images)
        assert (predictions.labels[images] == t).all() and (predictions.classes[images] == p).all()
    assert table.to_dataframe().loc["square", "circle"] == counts[1, 0]
    assert table.to_dict()["errors"][0]["count"] == sizes[0]


# ------------------------------------------------------------ planted shortcut
def test_zeroing_the_top_community_of_a_colour_confusion_fixes_errors(colour_confusions, top_units):
    """The stated goal: zeroing the top-ranked community fixes on average >= 40% of its
    confusion's errors (measured: 55% over 10 confusions; 35% when units were ranked by
    the whole contrastive contribution, which put first the communities of the true
    class's colour, silent on the errors). The top unit is a colour community in every
    one (measured 10/10): the diagnosis names colour as the cause."""
    assert len(colour_confusions) >= 4
    assert np.mean([fixed for _, fixed in top_units]) >= 0.40
    labels = [top.label for top, _ in top_units]
    assert all(label is not None and label.concept == "colour" and label.auroc >= 0.75 for label in labels)


@pytest.mark.xfail(
    strict=True,
    reason="measured: the top community is labelled with the predicted class's colour (AUROC >= 0.75) in 6 of "
    "the 10 colour confusions (stated: >= 3/4). In 3 of the others the top unit is a community of another "
    "colour or shape that zeroing also fixes (e.g. layer2's green community fixes 100% of blue circles called "
    "triangles), in 1 no single community fixes any error; ranking by each community's own ablation effect "
    "reaches 7/10",
)
def test_the_top_community_of_a_colour_confusion_is_labelled_with_the_predicted_class_colour(
    colour_confusions, top_units
):
    assert len(colour_confusions) >= 4
    labelled = [
        top.label is not None and (top.label.concept, top.label.value) == ("colour", COLOURS[t]) and top.label.auroc >= 0.75
        for (_, t, _), (top, _) in zip(colour_confusions, top_units)
    ]
    assert np.mean(labelled) >= 0.75


def test_the_top_community_of_a_colour_confusion_responds_to_the_predicted_class_colour(an, colour_confusions, top_units):
    """What holds of the label goal: the top community separates the wrong class's colour
    from the others (AUROC >= 0.75 for it, whether or not it is the community's best
    value) in at least 3/4 of the confusions (measured 8/10: layer1's community labelled
    yellow is also red's, AUROC 0.78)."""
    reports = {layer: an.evaluate(an.communities(layer, stability_runs=0)) for layer in LAYERS}
    responds = []
    for (_, t, _), (top, _) in zip(colour_confusions, top_units):
        ((layer, _),) = top.spec.items()
        community = int(top.name.rsplit(" ", 1)[1])
        scores = {(c.concept, c.value): c.auroc for c in reports[layer].concepts(community)}
        responds.append(scores[("colour", COLOURS[t])] >= 0.75)
    assert np.mean(responds) >= 0.75


def test_units_silent_on_the_errors_are_not_ranked_as_their_cause(an, colour_confusions):
    """A unit's contrastive contribution can come from the reference alone (it pushes
    towards the true class on correct images and is silent on the errors: missing
    evidence). The ranking keeps only what a unit does on the errors, so the top unit
    pushes towards the wrong class there, while such reference-only units exist."""
    reference_only = 0
    for _, _, images in colour_confusions:
        found = diagnose(an, images)
        on_errors = found.attribution.mean(1)
        assert on_errors[0] > 0 and found.evidence[0] == found.evidence.max()
        assert np.allclose(found.evidence, np.minimum(found.contributions, on_errors))
        reference_only += int(np.any((on_errors <= 0) & (found.contributions > found.evidence[0])))
    assert reference_only >= len(colour_confusions) // 2


def test_a_unit_with_no_role_has_no_contribution_and_fixes_nothing(data):
    """Neurons of layer2 whose outgoing weights are zeroed feed nothing: their attribution
    is 0 and switching them off changes no prediction, beside a colour community that does."""
    model = copy.deepcopy(load_pretrained("shapes-spurious-cnn"))
    unrelated = np.sort(np.random.default_rng(0).choice(64, 8, replace=False))
    with torch.no_grad():
        model.layer3.conv1.weight[:, unrelated] = 0
        model.layer3.shortcut[0].weight[:, unrelated] = 0
    cut = Analysis(model, data, layers=LAYERS, progress=False)
    _, _, images = cut.confusions().errors[0]
    units = [*diagnose(cut, images, layers="layer3").units[:1], Unit("unrelated", "spec", {"layer2": tuple(unrelated)})]
    found = diagnose(cut, images, units=units)
    by_name = dict(zip([u.name for u in found.units], found.contributions))
    assert by_name[units[0].name] > 1.0
    assert abs(by_name["unrelated"]) < 1e-6 * by_name[units[0].name]
    assert np.abs(found.attribution[[u.name for u in found.units].index("unrelated")]).max() == 0
    fixed = intervene(cut, units, images)
    assert fixed.fix_rate[1] == 0 and fixed.other_accuracy_change[1] == 0 and fixed.right_before_change[1] == 0
    assert fixed.fix_rate[0] > 0


# --------------------------------------------------------------- exact numbers
def _loop_attribution(model, layer, x, true, predicted, channels, steps):
    """Integrated Gradients of logit[predicted] - logit[true] at ``layer`` summed over
    ``channels`` and positions, one forward and one backward per step."""
    module = dict(model.named_modules())[layer]
    captured = {}
    handle = module.register_forward_hook(lambda _m, _i, out: captured.setdefault("a", out.detach()))
    with torch.no_grad():
        model(x)
    handle.remove()
    a = captured["a"]
    total = torch.zeros(len(x))
    for s in range(steps):
        scaled = ((s + 0.5) / steps * a).requires_grad_(True)
        handle = module.register_forward_hook(lambda _m, _i, _out, scaled=scaled: scaled)
        logits = model(x)
        handle.remove()
        rows = torch.arange(len(x))
        (grad,) = torch.autograd.grad((logits[rows, predicted] - logits[rows, true]).sum(), scaled)
        total += (a * grad)[:, list(channels)].sum(dim=(1, 2, 3)) / steps
    return total.numpy()


def test_contributions_of_one_image_equal_a_plain_loop_over_units_and_steps(an, colour_confusions):
    image = int(colour_confusions[0][2][0])
    found = diagnose(an, image, max_reference=3, steps=8)
    true, predicted = int(found.true[0]), int(found.predicted[0])
    references = an.images(found.reference)
    on_errors, on_references = [], []
    for unit in found.units:
        ((layer, channels),) = unit.spec.items()
        on_errors.append(_loop_attribution(an.model, layer, an.images([image]), true, predicted, channels, 8)[0])
        on_references.append(_loop_attribution(an.model, layer, references, true, predicted, channels, 8).mean())
    expected = np.subtract(on_errors, on_references)
    np.testing.assert_allclose(found.contributions, expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(found.evidence, np.minimum(expected, on_errors), rtol=1e-4, atol=1e-4)
    assert len(found.reference) == 3 and (an.labels[found.reference] == true).all()
    assert list(found.evidence) == sorted(found.evidence, reverse=True)
    margin = an.predictions.logits[image, predicted] - an.predictions.logits[image, true]
    assert found.margins[0] == pytest.approx(margin)
    for patch in (where[0] for where in found.where):
        top, left, bottom, right = patch.box
        assert patch.image == image and 0 <= top < bottom <= 64 and 0 <= left < right <= 64


# ------------------------------------------------------------ people's mistakes
def test_a_correctly_classified_image_is_not_an_error_and_is_said_so(an):
    right = int(np.flatnonzero(an.predictions.correct)[0])
    with pytest.raises(ValueError, match=rf"image {right} is classified correctly .*no error to explain"):
        diagnose(an, right)
    with pytest.raises(ValueError, match=r"classified correctly .*give misclassified images only"):
        intervene(an, {"layer1": [0]}, [right, *an.confusions().errors[0][2][:2]])


def test_a_confusion_without_images_an_unknown_layer_and_a_bad_unit_get_messages(an):
    counts = an.confusions().counts
    t, p = (int(v) for v in np.argwhere(counts + np.eye(len(counts), dtype=int) * 10**6 == 0)[0])
    names = an.data.class_names
    with pytest.raises(ValueError, match=rf"no image of class '{names[t]}' is predicted as '{names[p]}'"):
        diagnose(an, (names[t], names[p]))
    with pytest.raises(ValueError, match="diagonal"):
        diagnose(an, (0, 0))
    errors = an.confusions().errors[0][2][:3]
    with pytest.raises(ValueError, match="layer2.*layer3"):
        diagnose(an, errors, layers=["layer9"])
    with pytest.raises(ValueError, match="units must be"):
        diagnose(an, errors, units="groups")
    with pytest.raises(ValueError, match="at least one unit"):
        intervene(an, [], errors)


def test_the_work_can_be_stopped_between_batches_and_reports_progress(an):
    errors = an.confusions().errors[0][2][:40]
    heard = []
    diagnose(an, errors, max_reference=8, on_progress=lambda done, total: heard.append((done, total)))
    assert heard[-1] == (3 * 48, 3 * 48) and [d for d, _ in heard] == sorted(d for d, _ in heard)
    with pytest.raises(Cancelled):
        diagnose(an, errors, should_stop=lambda: True)
    with pytest.raises(Cancelled):
        intervene(an, {"layer3": [0]}, errors, should_stop=lambda: True)


def test_several_candidates_run_in_one_pass_and_match_one_ablation_alone(an, colour_confusions):
    _, _, images = colour_confusions[0]
    units = diagnose(an, images).units[:2]
    found = intervene(an, units, images, mode="mean")
    assert found.names == [units[0].name, units[1].name, "all together"]
    alone = an.ablate(units[1].spec, mode="mean")
    np.testing.assert_allclose(found.results[1].logits_after, alone.logits_after, rtol=1e-4, atol=1e-4)
    right = alone.labels == alone.logits_after.argmax(1)
    assert found.fix_rate[1] == pytest.approx(right[images].mean())
    assert (found.now_predicted[1] == alone.logits_after[images].argmax(1)).all()
    others = np.setdiff1d(np.arange(len(an.data)), images)
    before = alone.labels == alone.logits_before.argmax(1)
    assert found.other_accuracy_change[1] == pytest.approx(right[others].mean() - before[others].mean())
    frame = found.to_dataframe()
    assert list(frame.index) == found.names and "accuracy_change:circle" in frame
    assert found.to_dict()["candidates"][2]["spec"] == {
        layer: sorted(set(units[0].spec.get(layer, ())) | set(units[1].spec.get(layer, ())))
        for layer in {*units[0].spec, *units[1].spec}
    }
