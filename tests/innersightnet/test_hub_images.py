"""Top images that belong to the community: hub images, which drive every neuron of a layer,
top every community by the plain score and none by the specific one (planted profiles)."""

import numpy as np
import pytest
from _planted import LAYER, hub_profiles, planted_analysis, planted_group
from sklearn.metrics import adjusted_rand_score


@pytest.fixture(scope="module")
def hubs():
    planted = hub_profiles()
    analysis = planted_analysis(planted.table)
    communities = analysis.communities(LAYER, stability_runs=0)
    assert adjusted_rand_score(communities.labels, planted.group) == 1.0  # the planted groups are found
    return planted, analysis.evaluate(communities)


def test_the_plain_ranking_puts_the_hubs_on_top_of_every_community_and_the_specific_one_its_own_images(hubs):
    planted, report = hubs
    for c in range(report.num_communities):
        own = planted.specific[planted_group(report.communities.labels, planted.group, c)]
        assert set(report.top_images(c, len(planted.hubs), ranking="plain")) == set(planted.hubs)
        assert set(report.top_images(c, len(own))) == set(own)  # the default ranking is the specific one
        assert set(report.top_images(c, len(own), ranking="specific")) == set(own)
        patches = report.patches(c, 3)  # patches follow the ranking (none here: no 2-D map)
        assert patches == []


def test_the_specific_score_is_the_residual_of_the_score_on_the_drive_of_the_communitys_own_layers():
    # Two layers: hubs drive the first; the second's groups follow a signal of their own.
    first = hub_profiles(groups=3, size=10, images=120, hubs=4, own=6, seed=1)
    second = hub_profiles(groups=2, size=10, images=120, hubs=0, own=6, seed=2)
    analysis = planted_analysis(first.table, second=second.table)
    report = analysis.evaluate([analysis.communities(layer, stability_runs=0) for layer in (LAYER, "second")])
    z = {}
    for name, table in ((LAYER, first.table), ("second", second.table)):
        t = table.astype(np.float64)
        z[name] = (t - t.mean(0)) / t.std(0)
    drive = {name: values.mean(1) for name, values in z.items()}  # the mean z-score of the layer's neurons
    communities = report.communities
    for c in range(report.num_communities):
        (layer,) = {layer for layer, _ in communities.members(c)}
        score = np.mean([z[layer][:, i] for _, i in communities.members(c)], axis=0)
        slope = score @ drive[layer] / (drive[layer] @ drive[layer])
        np.testing.assert_allclose(report.specific_scores[:, c], score - slope * drive[layer], atol=2e-4)
        assert abs(np.corrcoef(report.specific_scores[:, c], drive[layer])[0, 1]) < 1e-3
    assert report.image_scores("plain") is report.scores and report.image_scores() is report.specific_scores


def test_an_unknown_ranking_is_refused_with_the_rankings_named(hubs):
    _, report = hubs
    with pytest.raises(ValueError, match=r"ranking must be 'specific' or 'plain' \(how top images are ranked"):
        report.top_images(0, ranking="hubs")
