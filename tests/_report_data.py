"""Small results for the report tests (tests/test_reports.py, tests/test_browser_reports.py)."""

from __future__ import annotations

import numpy as np

from innersight_widgets import Analysis, Circuit, CommunityReport, build_circuit, load_pretrained, load_shapes


def statistics(seed: int, runs: int = 4, neurons: int = 80) -> np.ndarray:
    """W of a few runs: ten neurons with signal, ties (W rounded to 0.1, so +-t both occur),
    and constant neurons at W = 0."""
    rng = np.random.default_rng(seed)
    w = rng.normal(0, 1, (runs, neurons))
    w[:, :10] += rng.uniform(1, 4, 10)
    w = np.round(w, 1)
    w[:, -5:] = 0
    return w


def shapes_analysis(n: int = 200) -> Analysis:
    """shapes-cnn on ``n`` test images, with layer2 and layer3 selected."""
    return Analysis(
        load_pretrained("shapes-cnn"), load_shapes("test", n=n), layers=["layer3", "layer2"], progress=False
    )


def small_circuit(an: Analysis) -> Circuit:
    """The circuit of "star" through layer3 and layer2 at small settings (a few seconds)."""
    return build_circuit(an, "star", ["layer3", "layer2"], tau=4, top_k=12, ig_steps=4, max_images=8)


def layer_reports(an: Analysis) -> list[CommunityReport]:
    """The louvain communities of layer2 and of layer3, evaluated."""
    return [an.evaluate(an.communities(layer, "louvain")) for layer in ("layer2", "layer3")]
