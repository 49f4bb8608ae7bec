"""Say when a partition cannot be trusted: low stability (noise profiles) or no more probe
images than neurons, each with what to do; planted communities over enough images are quiet."""

import warnings

import numpy as np
import pytest
from _planted import LAYER, hub_profiles, noise_profiles, planted_analysis

from innersight_widgets.innersightnet import (
    MIN_STABILITY,
    Communities,
    UnreliablePartitionWarning,
    reliability_caveats,
)


def test_a_partition_of_noise_profiles_is_unstable_and_the_warning_says_what_to_do():
    analysis = planted_analysis(noise_profiles(images=300, neurons=150))
    with pytest.warns(UnreliablePartitionWarning) as caught:
        communities = analysis.communities(LAYER, stability_runs=3)
    assert communities.stability < MIN_STABILITY
    assert len(caught) == 1  # 300 images for 150 neurons: only the stability is at fault
    message = str(caught[0].message)
    assert f"mean adjusted Rand index of {communities.stability:.2f}, below 0.5" in message
    assert "more probe images, a coarser partition (a lower resolution (now 1))" in message
    assert "more stability_runs" in message
    assert caught[0].filename == __file__  # it points at the call, not into the package
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnreliablePartitionWarning)
        analysis.communities(LAYER, stability_runs=3, warn=False)  # a widget that shows it itself


def test_planted_communities_over_more_images_than_neurons_give_no_warning():
    analysis = planted_analysis(hub_profiles().table)  # 240 images, 60 neurons in 4 planted groups
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnreliablePartitionWarning)
        communities = analysis.communities(LAYER, stability_runs=3)
    assert communities.stability == 1.0


def test_no_more_images_than_living_neurons_is_said_even_of_a_stable_partition():
    planted = hub_profiles(groups=4, size=15, images=60, hubs=2, own=4)  # 60 images for 60 neurons
    table = np.concatenate([planted.table, np.ones((60, 3), np.float32)], axis=1)  # and 3 dead ones
    analysis = planted_analysis(table)
    with pytest.warns(UnreliablePartitionWarning) as caught:
        communities = analysis.communities(LAYER, stability_runs=3)
    assert communities.stability == 1.0 and len(communities.dead) == 3
    (message,) = [str(w.message) for w in caught]
    assert message.startswith("60 probe images for 60 living neurons: with no more images than neurons")
    assert "Use more probe images than neurons (over 60" in message and "partition fewer neurons" in message
    # the bound: one more image than living neurons is enough; dead neurons never count
    fewer_neurons = Communities("louvain", {"resolution": 1.0}, 0, communities.neurons[1:], communities.labels[1:], 0.5, 1.0)
    assert reliability_caveats(fewer_neurons, 60) == []
    assert reliability_caveats(communities, 61) == []
    assert len(reliability_caveats(communities, 60)) == 1
