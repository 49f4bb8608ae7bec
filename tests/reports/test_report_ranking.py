"""The communities page on planted profiles: its top images are the specific ones by default and
it names the ranking; an unreliable partition carries its caveat."""

from __future__ import annotations

import html
import re
import warnings
from collections import Counter
from pathlib import Path

import pytest
from _planted import LAYER, hub_profiles, noise_profiles, planted_analysis

from innersight_widgets.innersightnet import UnreliablePartitionWarning
from innersight_widgets.reports import communities_html

IMAGE = re.compile(r"data:image/png;base64,[A-Za-z0-9+/=]+")


def about(path: Path) -> str:
    """The page's text around its images, unescaped as the browser shows it: what the ranking
    paragraph and the caveats say."""
    return html.unescape(IMAGE.sub("", path.read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def hubs_report():
    planted = hub_profiles()  # 4 communities of 15 neurons, 6 hub images, 8 images of each community's own
    analysis = planted_analysis(planted.table)
    return planted, analysis.evaluate(analysis.communities(LAYER))


def test_the_page_shows_each_communitys_own_images_by_default_and_says_so(hubs_report, tmp_path) -> None:
    planted, report = hubs_report
    path = communities_html(report, tmp_path / "specific.html", top_images=8, draws=None)
    shown = Counter(IMAGE.findall(path.read_text(encoding="utf-8")))
    own = sum(len(images) for images in planted.specific)  # 4 communities x 8 images of their own
    assert len(shown) >= own and max(shown.values()) == 1  # no image tops two communities
    assert "data-ranking='specific'>Top images ranked by the specific score" in about(path)
    assert "Caution" not in about(path)


def test_the_plain_ranking_shows_the_hubs_in_every_community(hubs_report, tmp_path) -> None:
    planted, report = hubs_report
    path = report.to_html(tmp_path / "plain.html", top_images=8, draws=None, ranking="plain")
    everywhere = [uri for uri, times in Counter(IMAGE.findall(path.read_text(encoding="utf-8"))).items() if times == 4]
    assert len(everywhere) == len(planted.hubs)  # each hub in the strip of each of the 4 communities
    assert "data-ranking='plain'>Top images ranked by the community score" in about(path)


def test_an_unstable_partition_carries_its_caveat_on_the_page(tmp_path) -> None:
    analysis = planted_analysis(noise_profiles(images=300, neurons=150))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnreliablePartitionWarning)
        report = analysis.evaluate(analysis.communities(LAYER))
    text = about(communities_html(report, tmp_path / "noise.html", top_images=1, draws=None))
    assert "Caution: this louvain partition is unstable" in text and "a coarser partition" in text


def test_an_unknown_ranking_is_refused_before_any_work(hubs_report, tmp_path) -> None:
    _, report = hubs_report
    with pytest.raises(ValueError, match="ranking must be 'specific' or 'plain'"):
        communities_html(report, tmp_path / "nowhere" / "page.html", ranking="hub")
