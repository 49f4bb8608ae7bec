"""CommunityExplorer on planted profiles: the top images shown are the specific ones by default
and the panel names the ranking; a partition that cannot be trusted is said beside its stability."""

import warnings

import pytest
from _planted import LAYER, hub_profiles, noise_profiles, planted_analysis, planted_group

from innersight_widgets.innersightnet import UnreliablePartitionWarning
from innersight_widgets.widgets import CommunityExplorer


def explorer_of(table, **kw) -> CommunityExplorer:
    explorer = CommunityExplorer(planted_analysis(table), layers=LAYER, draws=2, images=None, **kw)
    explorer.wait()
    return explorer


def opened(explorer: CommunityExplorer, community: int) -> dict:
    explorer.view.set_state({"selected": community})  # a click, as the browser sends it
    explorer.wait()
    return explorer.view.details


@pytest.fixture(scope="module")
def hubs():
    return hub_profiles()


def test_the_details_show_the_specific_top_images_by_default_say_so_and_switch_to_the_plain_ones(hubs):
    explorer = explorer_of(hubs.table, top_k=8)
    labels = explorer.communities.labels
    for c in range(explorer.communities.num_communities):
        details = opened(explorer, c)
        own = hubs.specific[planted_group(labels, hubs.group, c)]
        assert details["ranking"] == "specific" and details["ranking_text"].startswith("specific score")
        assert {m["index"] for m in details["images"]} == set(own)
    explorer.ranking.value = "plain"  # the control re-opens the open community
    explorer.wait()
    details = explorer.view.details
    assert details["ranking"] == "plain" and details["ranking_text"].startswith("community score")
    assert set(hubs.hubs) <= {m["index"] for m in details["images"]}
    assert [m["score"] for m in details["images"]] == sorted((m["score"] for m in details["images"]), reverse=True)
    assert explorer_of(hubs.table, ranking="plain").ranking.value == "plain"


def test_an_unstable_partition_is_said_beside_its_stability_and_a_planted_one_is_not(hubs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        noisy = explorer_of(noise_profiles(images=300, neurons=150))
        planted = explorer_of(hubs.table)
    assert not [w for w in caught if issubclass(w.category, UnreliablePartitionWarning)]  # shown, not printed
    stability = noisy.view.stability
    assert stability["value"] < 0.5
    (warning,) = stability["warnings"]
    assert "unstable" in warning and "a coarser partition (a lower resolution (now 1))" in warning
    assert planted.view.stability["value"] == 1.0 and planted.view.stability["warnings"] == []


def test_no_more_images_than_neurons_is_said_before_the_stability_is_measured():
    few = explorer_of(hub_profiles(images=60, hubs=2, own=4).table, stability_runs=0)  # 60 images, 60 neurons
    stability = few.view.stability
    assert stability["value"] is None and "not measured" in stability["text"]
    (warning,) = stability["warnings"]
    assert warning.startswith("60 probe images for 60 living neurons")
