"""Feature visualisation against what the shipped shapes models are known to hold: colour
communities want their colour, shape communities' images beat the probe images on their
score, and the spurious model's "star" wants the yellow it learnt as a shortcut. Each
check is also run with the objective pointed at another unit, where it must fail."""

import numpy as np
import pytest

from innersight_widgets import Analysis, load_pretrained, load_shapes, unit_objective, visualise

SHAPE_COLOURS = ("red", "green", "blue", "yellow")  # the colour concept's values in load_shapes


def hues(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(hue in degrees, chroma) of every pixel of n x 3 x H x W images in [0, 1]."""
    pixels = images.transpose(0, 2, 3, 1).reshape(-1, 3).astype(np.float64)
    r, g, b = pixels.T
    high, low = pixels.max(1), pixels.min(1)
    chroma = high - low
    safe = np.where(chroma > 0, chroma, 1.0)
    sector = np.where(high == r, ((g - b) / safe) % 6, np.where(high == g, (b - r) / safe + 2, (r - g) / safe + 4))
    return sector * 60.0, chroma


def mean_hue(images: np.ndarray) -> float:
    """The chroma-weighted circular mean hue of the images, in degrees."""
    hue, chroma = hues(images)
    return float(np.degrees(np.angle((chroma * np.exp(1j * np.radians(hue))).sum())) % 360)


def distance(a: np.ndarray | float, b: float) -> np.ndarray:
    """Circular distance between hues in degrees."""
    d = np.abs(np.asarray(a) - b) % 360
    return np.minimum(d, 360 - d)


@pytest.fixture(scope="module")
def colour_hues() -> dict[str, float]:
    """The hue of each of the four shape colours, measured on the drawn shapes' strongly
    coloured pixels."""
    data = load_shapes("test", n=400)
    images, colour = data.images.numpy(), data.concepts["colour"].values
    out = {}
    for index, name in enumerate(data.concepts["colour"].names):
        hue, chroma = hues(images[colour == index])
        strong = chroma > 0.5
        out[name] = float(np.degrees(np.angle(np.exp(1j * np.radians(hue[strong])).sum())) % 360)
    assert tuple(out) == SHAPE_COLOURS
    return out


def nearest_colour(images: np.ndarray, colour_hues: dict[str, float]) -> str:
    """The shape colour whose hue is nearest the images' mean hue."""
    hue = mean_hue(images)
    return min(colour_hues, key=lambda name: distance(hue, colour_hues[name]))


def colour_shares(images: np.ndarray, colour_hues: dict[str, float]) -> dict[str, float]:
    """Per shape colour, the share of the images' chroma in pixels whose hue is nearest it."""
    hue, chroma = hues(images)
    names = list(colour_hues)
    nearest = np.argmin(np.stack([distance(hue, colour_hues[n]) for n in names]), axis=0)
    weights = np.bincount(nearest, weights=chroma, minlength=len(names))
    return dict(zip(names, weights / weights.sum()))


# --------------------------------------------------------------- (a) colour communities
@pytest.fixture(scope="module")
def colour_communities():
    """shapes-cnn's first block partitioned as in the colour-community test of
    tests/innersightnet (a cut keeping neurons correlated above about 0.5), its communities
    labelled with a colour at AUROC >= 0.9, and one visualisation of each (one batch)."""
    an = Analysis(load_pretrained("shapes-cnn"), load_shapes("test", n=1000), layers=["stem.2"], progress=False)
    communities = an.communities("stem.2", "agglomerative", threshold=0.5)
    report = an.evaluate(communities)
    labelled = {
        c: label.value for c in range(communities.num_communities)
        if (label := report.label(c)).concept == "colour" and label.auroc >= 0.9
    }
    found = visualise(an, [(communities, c) for c in labelled], images=2, steps=256)
    return dict(zip(labelled, found)), labelled


def test_each_colour_community_visualises_in_its_colour(colour_communities, colour_hues):
    visualisations, labelled = colour_communities
    assert len(set(labelled.values())) >= 2, labelled
    for c, colour in labelled.items():
        assert nearest_colour(visualisations[c].images, colour_hues) == colour, (c, mean_hue(visualisations[c].images))


def test_the_colour_check_fails_for_another_communitys_visualisation(colour_communities, colour_hues):
    visualisations, labelled = colour_communities
    pairs = [(c, d) for c in labelled for d in labelled if labelled[c] != labelled[d]]
    assert pairs
    for c, other in pairs:
        assert nearest_colour(visualisations[other].images, colour_hues) != labelled[c], (c, other)


# ---------------------------------------------------------------- (b) shape communities
@pytest.fixture(scope="module")
def shape_communities():
    """shapes-cnn's last block in Louvain communities, those labelled with a shape, their
    report and one visualisation of each (one batch)."""
    an = Analysis(load_pretrained("shapes-cnn"), load_shapes("test", n=1000), layers=["layer3"], progress=False)
    communities = an.communities("layer3")
    report = an.evaluate(communities)
    labelled = [c for c in range(communities.num_communities) if report.label(c).concept == "shape"]
    found = visualise(an, [(communities, c) for c in labelled], images=2, steps=128)
    return an, communities, report, dict(zip(labelled, found))


def beats_the_probe_images(an, communities, report, c: int, visualisation) -> bool:
    """Whether every image of ``visualisation`` has a score of community ``c`` above 99% of
    the probe images' scores."""
    scores = unit_objective(an, (communities, c), visualisation.inputs())
    return bool(scores.min() > np.quantile(report.scores[:, c], 0.99))


def test_each_shape_community_visualisation_beats_99_percent_of_the_probe_images(shape_communities):
    an, communities, report, visualisations = shape_communities
    assert len(visualisations) >= 3
    for c, visualisation in visualisations.items():
        # what was maximised is the community score the report ranks the probe images by
        np.testing.assert_allclose(unit_objective(an, (communities, c), an.images(range(20))), report.scores[:20, c],
                                   rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(unit_objective(an, (communities, c), visualisation.inputs()), visualisation.final,
                                   rtol=1e-4, atol=1e-4)
        assert beats_the_probe_images(an, communities, report, c, visualisation), c


def test_the_score_check_fails_for_the_least_similar_communitys_visualisation(shape_communities):
    an, communities, report, visualisations = shape_communities
    similarity = report.similarity()
    for c in visualisations:
        other = min((d for d in visualisations if d != c), key=lambda d: similarity[c, d])
        assert not beats_the_probe_images(an, communities, report, c, visualisations[other]), (c, other)


# ------------------------------------------------------------- (c) the spurious shortcut
@pytest.fixture(scope="module")
def logit_visualisations():
    """The "star" and "triangle" logits of shapes-spurious-cnn, and "star" of shapes-cnn."""
    found = {}
    for model in ("shapes-spurious-cnn", "shapes-cnn"):
        an = Analysis(load_pretrained(model), load_shapes("test", n=200), layers=["layer3"], progress=False)
        classes = ["star", "triangle"] if model == "shapes-spurious-cnn" else ["star"]
        for name, visualisation in zip(classes, visualise(an, classes, images=2, steps=128)):
            found[model, name] = visualisation
    return found


def dominated_by(images: np.ndarray, colour: str, colour_hues: dict[str, float]) -> bool:
    """Whether ``colour`` holds the largest share of the images' chroma and their mean hue."""
    shares = colour_shares(images, colour_hues)
    return max(shares, key=shares.get) == colour and nearest_colour(images, colour_hues) == colour


def test_the_spurious_models_star_is_dominated_by_its_shortcut_colour(logit_visualisations, colour_hues):
    # in the spurious training split shape i comes in colour i: star goes with yellow
    star = logit_visualisations["shapes-spurious-cnn", "star"]
    assert star.unit == "logit 'star'"
    assert dominated_by(star.images, "yellow", colour_hues), colour_shares(star.images, colour_hues)


def test_the_yellow_check_fails_for_another_class_and_for_the_model_without_the_shortcut(
    logit_visualisations, colour_hues
):
    triangle = logit_visualisations["shapes-spurious-cnn", "triangle"]
    assert not dominated_by(triangle.images, "yellow", colour_hues), colour_shares(triangle.images, colour_hues)
    independent = logit_visualisations["shapes-cnn", "star"]
    assert not dominated_by(independent.images, "yellow", colour_hues), colour_shares(independent.images, colour_hues)
