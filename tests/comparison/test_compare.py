"""compare()'s pieces and its results: the matching against planted similarities and a
planted renumbering, linear CKA against its definition, the refusal of different images,
the tables, the dictionary and the pages; circuits against themselves."""

import json

import numpy as np
import pytest

from innersight_widgets import (
    Analysis,
    CircuitComparison,
    CommunityComparison,
    build_circuit,
    compare,
    load_pretrained,
    load_shapes,
)
from innersight_widgets.comparison import assign, linear_cka, similarity
from innersight_widgets.engine import Cancelled
from innersight_widgets.innersightnet import Communities, CommunityReport
from innersight_widgets.innersightnet.importance import image_sample


@pytest.fixture(scope="module")
def data():
    return load_shapes("test", n=300)


@pytest.fixture(scope="module")
def clean(data):
    return Analysis(load_pretrained("shapes-cnn"), data, layers=["layer2", "layer3"], progress=False)


@pytest.fixture(scope="module")
def spurious(data):
    return Analysis(load_pretrained("shapes-spurious-cnn"), data, layers=["layer2", "layer3"], progress=False)


# ----------------------------------------------------------------- the pieces
def test_similarity_is_the_pearson_correlation_and_a_constant_unit_resembles_nothing():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(50, 3)), rng.normal(size=(50, 2))
    y[:, 1] = 3 * x[:, 0] + 1
    expected = np.corrcoef(x.T, y.T)[:3, 3:]
    assert similarity(x, y) == pytest.approx(expected)
    assert similarity(x, np.ones((50, 1))).tolist() == [[0.0], [0.0], [0.0]]


def test_assign_maximises_the_excess_over_the_least_similarity_and_drops_pairs_below_it():
    planted = np.array([
        [0.9, 0.8, 0.0],
        [0.85, 0.1, 0.0],
        [0.2, 0.3, 0.4],
    ])
    # greedy would pair row 0 with column 0 and leave row 1 alone; the best total pairs both
    assert assign(planted, 0.5) == [(0, 1), (1, 0)]
    assert assign(planted, 0.35) == [(0, 1), (1, 0), (2, 2)]
    assert assign(planted, 0.95) == []
    assert assign(np.zeros((0, 3)), 0.5) == []


def test_linear_cka_is_its_definition_through_features_or_images_and_ignores_rotation_and_scale():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 6))
    y = x @ rng.normal(size=(6, 5)) + rng.normal(size=(40, 5))

    def definition(a, b):
        a, b = a - a.mean(0), b - b.mean(0)
        return np.linalg.norm(b.T @ a) ** 2 / (np.linalg.norm(a.T @ a) * np.linalg.norm(b.T @ b))

    assert linear_cka(x, y) == pytest.approx(definition(x, y))  # 40 images > 11 features: features
    assert linear_cka(x[:8], y[:8]) == pytest.approx(definition(x[:8], y[:8]))  # 8 images: Gram matrices
    rotation, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    assert linear_cka(x, 3 * x @ rotation) == pytest.approx(1.0)
    assert np.isnan(linear_cka(x, np.ones((40, 2))))


# ----------------------------------------------------------- the communities
def test_a_renumbered_partition_is_matched_community_to_community(clean):
    """The same partition with its communities numbered otherwise: each must find itself."""
    report = clean.evaluate(clean.communities("layer3", warn=False))
    parts = report.communities
    order = np.roll(np.arange(parts.num_communities), 1)
    renumbered = Communities(
        parts.method, parts.params, parts.seed, parts.neurons, np.where(parts.labels >= 0, order[parts.labels], -1),
        parts.modularity, parts.stability,
    )
    result = compare(report, CommunityReport(clean, renumbered), ablation=False)
    assert {(m.a, m.b) for m in result.matches} == {(c, int(order[c])) for c in range(parts.num_communities)}
    assert result.counterpart("b", int(order[0])) == 0
    assert result.a.communities[0].label == result.b.communities[int(order[0])].label


def test_analyses_of_other_images_are_refused_with_what_differs(clean, data):
    other = Analysis(load_pretrained("shapes-cnn"), load_shapes("test", n=300, seed=1), layers=["layer3"], progress=False)
    with pytest.raises(ValueError, match="probe different images: .* pixels or labels differ .* on one data object"):
        compare(clean, other, "layer3", "layer3", ablation=False)
    fewer = Analysis(load_pretrained("shapes-cnn"), load_shapes("test", n=100), layers=["layer3"], progress=False)
    with pytest.raises(ValueError, match="a probes 300 images and b 100"):
        compare(clean, fewer, "layer3", "layer3", ablation=False)


def test_the_same_images_in_another_object_are_accepted(clean):
    copy = Analysis(load_pretrained("shapes-cnn"), load_shapes("test", n=300), layers=["layer3"], progress=False)
    result = compare(clean, copy, "layer3", "layer3", ablation=False)
    assert all(m.a == m.b for m in result.matches) and not result.unmatched_a


def test_wrong_sides_and_arguments_say_what_to_give(clean):
    report = clean.evaluate(clean.communities("layer3", warn=False))
    with pytest.raises(ValueError, match="layers_a was given with a CommunityReport"):
        compare(report, clean, "layer3", "layer3")
    with pytest.raises(TypeError, match="must be an Analysis, a CommunityReport or a Circuit"):
        compare(clean, "layer3")
    with pytest.raises(ValueError, match="min_similarity must"):
        compare(clean, clean, "layer3", "layer3", min_similarity=2.0)


def test_the_table_the_dictionary_and_the_page(clean, spurious, tmp_path):
    result = compare(clean, spurious, "layer3", "layer3", names=("clean", "spurious"))
    assert isinstance(result, CommunityComparison)
    frame = result.to_dataframe(per_class=True)
    statuses = frame.status.value_counts().to_dict()
    assert statuses.get("matched", 0) == len(result.matches)
    assert statuses.get("only a", 0) == len(result.unmatched_a) and statuses.get("only b", 0) == len(result.unmatched_b)
    matched = frame[frame.status == "matched"].iloc[0]
    one, other = result.a.communities[matched.community_a], result.b.communities[matched.community_b]
    assert matched.accuracy_drop_change == pytest.approx(other.accuracy_drop - one.accuracy_drop)
    assert matched[f"drop_change[{one.own_class}]"] == pytest.approx(matched.own_class_drop_change)
    assert matched.similarity == pytest.approx(result.similarity[matched.community_a, matched.community_b])
    alone = frame[frame.status != "matched"]
    assert (alone.best_similarity < result.min_similarity).all()
    assert json.loads(json.dumps(result.to_dict()))["names"] == ["clean", "spurious"]
    page = result.to_html(tmp_path / "diff.html", top_images=2).read_text()
    assert page.count("class='comparison-row'") == len(frame)
    assert "Linear CKA between the layers" in page and page.count("report-image") == 2 * (
        len(result.a.communities) + len(result.b.communities)
    )


def test_matching_again_at_another_threshold_is_compare_at_that_threshold(clean, spurious):
    first = compare(clean, spurious, "layer3", "layer3", ablation=False)
    for threshold in (0.3, 0.7, 0.95):
        direct = compare(clean, spurious, "layer3", "layer3", ablation=False, min_similarity=threshold)
        again = first.at(threshold)
        assert again.matches == direct.matches and again.min_similarity == threshold
        assert (again.unmatched_a, again.unmatched_b) == (direct.unmatched_a, direct.unmatched_b)
        assert again.a is first.a and again.cka == first.cka  # nothing recomputed
    assert len(first.at(0.95).matches) < len(first.matches) <= len(first.at(0.3).matches)
    with pytest.raises(ValueError, match="min_similarity"):
        first.at(1.5)


def test_the_ablations_run_on_a_sample_with_progress_and_stop_when_asked(clean, spurious):
    seen = []
    found = compare(clean, spurious, "layer3", "layer3", images=60, on_progress=lambda done, total: seen.append((done, total)))
    sample = image_sample(clean, 60, 0)
    for side, analysis in ((found.a, clean), (found.b, spurious)):
        parts = side.report.communities
        direct = analysis.ablate_many([parts.spec(c) for c in range(parts.num_communities)], images=sample)
        assert [s.accuracy_drop for s in side.communities] == pytest.approx([d.accuracy_drop for d in direct])
    total = 60 * (len(found.a.communities) + len(found.b.communities))
    assert seen[-1] == (total, total) and all(t == total for _, t in seen)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)  # side a, then side b
    with pytest.raises(Cancelled):
        compare(clean, spurious, "layer3", "layer3", images=60, should_stop=lambda: True)


def test_without_ablation_no_drop_is_given(clean):
    result = compare(clean, clean, "layer2", "layer2", ablation=False)
    assert all(np.isnan(s.accuracy_drop) and not s.class_drops for s in result.a.communities)
    assert result.to_dataframe().own_class_drop_change.isna().all()


# ----------------------------------------------------------------- circuits
@pytest.fixture(scope="module")
def circuits(clean, spurious):
    settings = {"tau": 4, "top_k": 12, "ig_steps": 4, "max_images": 8}
    return {
        name: build_circuit(an, "star", ["layer3", "layer2"], **settings)
        for name, an in (("clean", clean), ("spurious", spurious))
    }


def test_a_circuit_compared_with_itself_matches_every_group_to_itself(circuits, tmp_path):
    circuit = circuits["spurious"]
    result = compare(circuit, circuit)
    assert isinstance(result, CircuitComparison)
    assert {(m.a, m.b) for m in result.matches} == {(g.id, g.id) for g in circuit.groups}
    assert result.appeared == result.disappeared == ()
    assert all(e.kind == "kept" and e.change == 0 for e in result.edges) and len(result.edges) == len(circuit.edges)
    page = result.to_html(tmp_path / "circuits.html").read_text()
    assert page.count("class='comparison-row'") == len(circuit.groups)


def test_two_circuits_account_for_every_group_and_edge(circuits):
    a, b = circuits["clean"], circuits["spurious"]
    result = compare(a, b, names=("clean", "spurious"))
    assert len(result.matches) + len(result.disappeared) == len(a.groups)
    assert len(result.matches) + len(result.appeared) == len(b.groups)
    assert {e.a for e in result.edges if e.a} == {(low, high) for low, high, _ in a.edges}
    assert {e.b for e in result.edges if e.b and e.weight_b} == {(low, high) for low, high, _ in b.edges}
    counterpart = {m.a: m.b for m in result.matches}
    for edge in result.edges:
        if edge.a and edge.b:
            assert edge.b == (counterpart[edge.a[0]], counterpart[edge.a[1]])
    frame = result.edges_dataframe()
    assert (frame.change == frame.weight_b - frame.weight_a).all()


def test_circuits_of_other_classes_or_beside_an_analysis_are_refused(circuits, clean):
    other = build_circuit(clean, "circle", ["layer3", "layer2"], tau=4, top_k=12, ig_steps=4, max_images=8)
    with pytest.raises(ValueError, match="same class"):
        compare(circuits["clean"], other)
    with pytest.raises(TypeError, match="two circuits or two analyses"):
        compare(circuits["clean"], clean)
