"""InnerSightNet on the shipped vision transformer (shapes-vit), against planted truth: its
communities recover the planted colours (patch embedding) and shapes (last block), and the
blue community's patch on an image with one planted blue square is that square's patch.

The planted square is found through the patch embedding, whose 8 x 8 grid is the token
grid. In the token layers above it, a community's strongest member often peaks at a
patch its position embedding favours rather than at the square (30-70% of the planted
images in blocks.0 and blocks.0.fc1): a limit of one member's maximum standing for the
community."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from innersight_widgets import Analysis, ImageDataset, load_pretrained, load_shapes
from innersight_widgets.data.shapes import COLOURS

PATCH = 8
BLUE = (0.18, 0.32, 0.95)  # the shapes' blue


@pytest.fixture(scope="module")
def vit():
    model = load_pretrained("shapes-vit")
    return model, Analysis(model, load_shapes("test"), layers=["patch", "blocks.0", "blocks.3"], progress=False)


def labels_of(an: Analysis, layer: str, **params):
    communities = an.communities(layer, stability_runs=0, **params)
    report = an.evaluate(communities)
    return communities, [report.label(c) for c in range(communities.num_communities)]


def test_colour_and_shape_communities_are_recovered(vit):
    _, an = vit
    _, colours = labels_of(an, "patch")
    found = {l.value for l in colours if l is not None and l.concept == "colour" and l.auroc >= 0.75}
    assert len(found) >= 3, colours
    _, shapes = labels_of(an, "blocks.3")
    found = {l.value for l in shapes if l is not None and l.concept == "shape" and l.auroc >= 0.75}
    assert len(found) >= 3, shapes
    assert set(COLOURS) >= {l.value for l in colours if l is not None and l.concept == "colour"}


def test_a_colour_community_points_at_the_patch_of_a_planted_square(vit):
    model, an = vit
    communities, labels = labels_of(an, "patch")
    blue = max(
        (c for c, l in enumerate(labels) if l is not None and (l.concept, l.value) == ("colour", "blue")),
        key=lambda c: labels[c].auroc,
    )
    cells = [(r, c) for r in range(1, 7) for c in range(1, 7)]
    images = torch.full((len(cells), 3, 64, 64), 0.15)
    for i, (r, c) in enumerate(cells):
        images[i, :, r * PATCH : (r + 1) * PATCH, c * PATCH : (c + 1) * PATCH] = torch.tensor(BLUE)[:, None, None]
    planted = Analysis(
        model, ImageDataset(images, torch.zeros(len(cells), dtype=torch.long), model.class_names),
        layers=["patch"], progress=False,
    )
    patches = planted.evaluate(communities).patches(blue, k=len(cells))
    boxes = {p.image: p.box for p in patches}
    hits = [boxes[i] == (r * PATCH, c * PATCH, (r + 1) * PATCH, (c + 1) * PATCH) for i, (r, c) in enumerate(cells)]
    assert np.mean(hits) == 1.0, [(cells[i], boxes[i]) for i in range(len(cells)) if not hits[i]]
