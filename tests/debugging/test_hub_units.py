"""The debugger's community units show the communities' specific top images by default, not the
hub images that drive every neuron of the layer (planted profiles)."""

from __future__ import annotations

import numpy as np
from _planted import LAYER, hub_profiles, planted_analysis, planted_group

from innersight_widgets import diagnose


def test_community_units_carry_their_own_images_by_default_and_the_hubs_with_the_plain_ranking() -> None:
    planted = hub_profiles()
    analysis = planted_analysis(planted.table)  # a random head: many errors to diagnose
    partition = analysis.communities(LAYER, stability_runs=0)
    errors = np.flatnonzero(~analysis.predictions.correct)[:5].tolist()
    specific = diagnose(analysis, errors, communities=partition, reference=None, steps=2, top_k=8)
    plain = diagnose(analysis, errors, communities=partition, reference=None, steps=2, top_k=8, ranking="plain")
    for unit in specific.units:
        c = int(unit.name.rsplit(" ", 1)[1])  # "planted community <c>"
        assert set(unit.top_images) == set(planted.specific[planted_group(partition.labels, planted.group, c)])
    assert len(plain.units) == partition.num_communities
    for unit in plain.units:
        assert set(planted.hubs) <= set(unit.top_images)
