"""compare() against what the shipped shapes models are known to hold: shapes-spurious-cnn
learnt a colour shortcut that shapes-cnn did not. On the shapes test split, at layer2 and
layer3, the diff must list the spurious model's colour communities with no colour
counterpart in the clean model, and find the clean model's shape communities again in the
spurious one, weaker. A model compared with itself matches every community to itself.
Each check is also run with the matching scrambled on purpose, where it must fail."""

import numpy as np
import pytest

from innersight_widgets import Analysis, compare, load_pretrained, load_shapes
from innersight_widgets.comparison import communities as comparing

LAYERS = ("layer2", "layer3")
#: A community is said to be about a concept value when its label's AUROC reaches this.
LABELLED = 0.75


@pytest.fixture(scope="module")
def analyses():
    data = load_shapes("test")
    return {
        name: Analysis(load_pretrained(name), data, layers=list(LAYERS), progress=False)
        for name in ("shapes-cnn", "shapes-spurious-cnn")
    }


def diff(analyses, layer, ablation=True):
    return compare(
        analyses["shapes-cnn"], analyses["shapes-spurious-cnn"], layer, layer, ablation=ablation,
        names=("clean", "spurious"),
    )


@pytest.fixture(scope="module")
def diffs(analyses):
    return {layer: diff(analyses, layer) for layer in LAYERS}


def about(summary, concept):
    return summary.label is not None and summary.label.concept == concept and summary.label.auroc >= LABELLED


def colour_problems(result):
    """What is wrong with the diff's account of the spurious model's colour communities."""
    colour = [s for s in result.b.communities if about(s, "colour")]
    if not colour:
        return ["the spurious model has no colour community"]
    problems = []
    for summary in colour:
        other = result.counterpart("b", summary.community)
        if other is not None and about(result.a.communities[other], "colour"):
            problems.append(f"spurious colour community {summary.community} has a colour counterpart {other}")
        if other is None and summary.community not in result.unmatched_b:
            problems.append(f"spurious community {summary.community} is neither matched nor listed without counterpart")
    return problems


def shape_problems(result):
    """What is wrong with the diff's account of the clean model's shape communities: each
    one matched must have a weaker counterpart (lower AUROC for its shape, or a smaller
    drop of its own class when ablated), and at least one counterpart must carry the
    same shape as its best shape."""
    problems, same_shape = [], 0
    for match in result.matches:
        clean, spurious = result.a.communities[match.a], result.b.communities[match.b]
        if not about(clean, "shape"):
            continue
        auroc = result.b.label_auroc(match.b, clean.label)
        weaker_label = auroc < clean.label.auroc
        weaker_drop = spurious.class_drop(clean.own_class) < clean.class_drop(clean.own_class)
        if not (weaker_label or weaker_drop):
            problems.append(f"clean {clean.label.value} community {match.a}'s counterpart {match.b} is not weaker")
        shapes = [s for s in result.b.report.concepts(match.b) if s.concept == "shape"]
        same_shape += shapes[0].value == clean.label.value
    if not same_shape:
        problems.append("no clean shape community has a counterpart whose best shape is its shape")
    return problems


def self_problems(result):
    problems = [f"{m.a} matched with {m.b} ({m.similarity:.3f})" for m in result.matches if m.a != m.b]
    missing = set(range(len(result.a.communities))) - {m.a for m in result.matches}
    if missing:
        problems.append(f"communities without themselves as counterpart: {sorted(missing)}")
    if not np.isclose(result.cka, 1.0):
        problems.append(f"CKA {result.cka}")
    return problems


@pytest.mark.parametrize("layer", LAYERS)
def test_the_spurious_models_colour_communities_have_no_colour_counterpart(diffs, layer):
    assert colour_problems(diffs[layer]) == []


@pytest.mark.parametrize("layer", LAYERS)
def test_the_clean_models_shape_communities_have_weaker_counterparts(diffs, layer):
    result = diffs[layer]
    assert shape_problems(result) == []
    frame = result.to_dataframe()
    assert (frame.status == "matched").sum() == len(result.matches)
    shown = frame[(frame.status == "matched") & frame.label_a.str.startswith("shape=")]
    assert ((shown.label_a_auroc_b < shown.label_auroc_a) | (shown.own_class_drop_change < 0)).all()


@pytest.mark.parametrize("layer", LAYERS)
def test_a_model_compared_with_itself_matches_every_community_to_itself(analyses, layer):
    an = analyses["shapes-spurious-cnn"]
    result = compare(an, an, layer, layer, ablation=False)
    assert self_problems(result) == []
    assert result.unmatched_a == result.unmatched_b == ()
    assert all(m.similarity == pytest.approx(1.0) for m in result.matches)


def scrambled(real):
    """The true matching with every counterpart handed on to the next community."""

    def assign(similar, least):
        pairs = real(similar, least)
        return [(i, j) for (i, _), (_, j) in zip(pairs, pairs[1:] + pairs[:1])]

    return assign


@pytest.mark.parametrize("layer", LAYERS)
def test_the_checks_fail_with_the_matching_scrambled(analyses, layer, monkeypatch):
    monkeypatch.setattr(comparing, "assign", scrambled(comparing.assign))
    an = analyses["shapes-cnn"]
    assert self_problems(compare(an, an, layer, layer, ablation=False)) != []
    assert shape_problems(diff(analyses, layer)) != []
