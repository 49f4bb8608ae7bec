"""ModelDiff shows what compare() found, figure for figure: shapes-cnn against
shapes-spurious-cnn at layer3 on 400 test images, where the spurious model's colour
communities have no counterpart (tests/comparison holds the truth of compare itself)."""

from __future__ import annotations

import colorsys
import html

import pytest

from innersight_widgets import Analysis, ModelDiff, compare, load_pretrained, load_shapes
from innersight_widgets.widgets.payloads.community_view import HUE_APART, NAMED_COLOURS, WORDLESS

NAMES = ("clean", "spurious")


def hue(colour: str) -> tuple[float, float]:
    """Hue (0..1, around the circle) and saturation of "#rrggbb"."""
    h, saturation, _ = colorsys.rgb_to_hsv(*(int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)))
    return h, saturation


def hue_gap(a: float, b: float) -> float:
    return min(abs(a - b), 1 - abs(a - b))


@pytest.fixture(scope="module")
def sides():
    data = load_shapes("test", n=400)
    return tuple(Analysis(load_pretrained(name), data, layers=["layer3"], progress=False)
                 for name in ("shapes-cnn", "shapes-spurious-cnn"))


@pytest.fixture(scope="module")
def diff(sides):
    """The widget given the two analyses: compare() runs on its live runner."""
    widget = ModelDiff(*sides, "layer3", "layer3", names=NAMES, top_k=4)
    widget.wait()
    return widget


def row_of(comparison, side, community):
    return next(r for r in comparison.rows(per_class=True) if r[f"community_{side}"] == community)


def test_the_drawing_is_the_comparison_computed_on_the_runner(diff, sides):
    comparison = diff.comparison
    assert diff.status.kind == "idle"
    assert diff.status.text == (
        f"clean: 4 communities, spurious: 4; {len(comparison.matches)} counterparts (similarity ≥ 0.50), "
        f"{len(comparison.unmatched_a)} only in clean, {len(comparison.unmatched_b)} only in spurious; CKA {comparison.cka:.2f}"
    )
    again = compare(*sides, "layer3", "layer3", names=NAMES)  # what a reader gets without the widget
    assert comparison.matches == again.matches and comparison.cka == pytest.approx(again.cka)
    g = diff.drawing.graph
    assert [(e["a"], e["b"]) for e in g["matches"]] == [(m.a, m.b) for m in comparison.matches]
    # figures at the digits the view prints them (similarities 2, drops and AUROCs 3)
    assert [e["w"] for e in g["matches"]] == [round(m.similarity, 2) for m in comparison.matches]
    assert g["min_similarity"] == 0.5 and g["cka"] == round(comparison.cka, 2) and g["images"] == 400
    for letter, side, lone in (("a", comparison.a, comparison.unmatched_a), ("b", comparison.b, comparison.unmatched_b)):
        nodes = g[letter]["nodes"]
        assert g[letter]["name"] == side.name and g[letter]["layers"] == ["layer3"]
        assert [(n["community"], n["size"]) for n in nodes] == [(s.community, s.size) for s in side.communities]
        assert [n["caption"] for n in nodes] == [s.label.value if s.label else "" for s in side.communities]
        # unmatched marked: no counterpart, exactly the comparison's lone communities
        assert [n["community"] for n in nodes if n["counterpart"] is None] == list(lone)
        assert all(n["counterpart"] == comparison.counterpart(letter, n["community"]) for n in nodes)
        best = comparison.similarity.max(1 if letter == "a" else 0)
        assert [n["best"] for n in nodes] == [round(float(v), 2) for v in best]
        assert all(0 <= n["x"] <= 1 and 0 <= n["y"] <= 1 for n in nodes)
    # the planted truth: the spurious model's colour communities are new
    colours = {n["caption"] for n in g["b"]["nodes"] if n["counterpart"] is None}
    assert {"blue", "green"} <= colours


def test_colours_never_contradict_a_colour_word_anywhere_on_screen(diff):
    """One palette over both sides: a disc labelled "blue" is blue, and no other disc of
    either side takes a hue near a colour word shown on either side."""
    g = diff.drawing.graph
    words = set()
    discs = []
    for letter in "ab":
        for n in g[letter]["nodes"]:
            fill = g[letter]["colours"][n["community"]]
            discs.append((n["caption"], fill))
            if n["caption"] in NAMED_COLOURS:
                words.add(n["caption"])
                assert fill == NAMED_COLOURS[n["caption"]]
    assert words == {"blue", "green"}
    for caption, fill in discs:
        if caption not in NAMED_COLOURS:
            assert fill in WORDLESS
            h, saturation = hue(fill)
            assert saturation < 0.2 or all(hue_gap(h, hue(NAMED_COLOURS[w])[0]) >= HUE_APART for w in words), (caption, fill)


def test_a_click_on_a_pair_opens_both_sides_with_the_comparisons_figures(diff):
    comparison = diff.comparison
    match = comparison.matches[0]
    diff.drawing.selected = f"b:{match.b}"  # as the browser sends a click on b's disc
    diff.wait()
    d, row = diff.drawing.details, row_of(comparison, "a", match.a)
    assert d["status"] == "matched" and d["similarity"] == round(match.similarity, 2) and d["best"] is None
    assert diff.status.text == f"clean {match.a} ↔ spurious {match.b}: similarity {match.similarity:.2f}"
    for letter, other in (("a", "b"), ("b", "a")):
        p = d[letter]
        assert (p["name"], p["community"], p["size"]) == (NAMES["ab".index(letter)], row[f"community_{letter}"], row[f"size_{letter}"])
        assert p["label"] == row[f"label_{letter}"]
        assert p["auroc"] == round(row[f"label_auroc_{letter}"], 3)
        assert p["other_auroc"] == round(row[f"label_{other}_auroc_{letter}"], 3)
        assert p["accuracy_drop"] == round(row[f"accuracy_drop_{letter}"], 3)
        side = comparison.a if letter == "a" else comparison.b
        top = side.report.top_images(p["community"], 4, "specific").tolist()
        assert [i["index"] for i in p["images"]] == top
        assert all(i["label"] == side.analysis.data.class_names[int(side.analysis.labels[i["index"]])] for i in p["images"])
    assert d["own_class"] == row["own_class"]
    for c in d["drops"]:
        a, b = (round(row[f"{k}[{c['name']}]"], 3) for k in ("drop_a", "drop_b"))
        # the change shown is the difference of the two drops shown, within the comparison's own
        assert (c["a"], c["b"], c["change"]) == (a, b, round(b - a, 3))
        assert c["change"] == pytest.approx(row[f"drop_change[{c['name']}]"], abs=1.5e-3)
    assert d["overall"]["change"] == round(d["overall"]["b"] - d["overall"]["a"], 3)
    assert d["overall"]["change"] == pytest.approx(row["accuracy_drop_change"], abs=1.5e-3)
    # the pictures are sent for these details, one per top image of each side
    thumbs = diff.drawing.thumbnails
    assert thumbs["owner"] == d["owner"] and len(thumbs["pngs"]) == 8
    assert thumbs["ids"] == [i["thumb"] for letter in "ab" for i in d[letter]["images"]]


def test_a_community_without_counterpart_opens_alone_with_its_best_similarity(diff):
    comparison = diff.comparison
    lone = comparison.unmatched_b[0]
    diff.select("b", lone)
    diff.wait()
    d, row = diff.drawing.details, row_of(comparison, "b", lone)
    assert d["status"] == "only b" and d["a"] is None and d["b"]["community"] == lone and d["similarity"] is None
    assert d["best"] == round(row["best_similarity"], 2) and row["best_similarity"] < comparison.min_similarity
    assert all(c["a"] is None and c["change"] is None for c in d["drops"])
    assert [c["b"] for c in d["drops"]] == [round(row[f"drop_b[{c['name']}]"], 3) for c in d["drops"]]
    assert diff.status.text == f"spurious {lone}: no counterpart in clean (best similarity {row['best_similarity']:.2f})"


def test_a_community_that_does_not_exist_is_an_error_said_not_swallowed(diff):
    diff.select("a", 1)
    diff.wait()
    diff.drawing.selected = "a:9"
    diff.wait()
    assert diff.status.kind == "error" and "there is no community 'a:9'" in diff.status.text
    assert diff.drawing.details == {} and diff.drawing.thumbnails == {} and diff.drawing.selected == ""


def test_analyses_of_different_images_are_an_error_in_the_status_line(sides):
    other = Analysis(load_pretrained("shapes-cnn"), load_shapes("test", n=200), layers=["layer3"], progress=False)
    widget = ModelDiff(other, sides[1], "layer3", "layer3")
    widget.wait()
    assert widget.status.kind == "error" and widget.status.text.startswith("error: ValueError: ")
    assert isinstance(widget.status.last_error, ValueError)
    assert widget.comparison is None and widget.drawing.graph == {}


def test_a_finished_comparison_is_drawn_at_once_and_the_same(diff):
    widget = ModelDiff(diff.comparison, top_k=4)
    assert widget.status.kind == "idle" and widget.drawing.graph == diff.drawing.graph
    with pytest.raises(TypeError, match="finished CommunityComparison alone"):
        ModelDiff(diff.comparison, diff.comparison.b.analysis)
    with pytest.raises(TypeError, match="or two analyses"):
        ModelDiff(diff.comparison.a.analysis)
    with pytest.raises(ValueError, match="top_k must be a positive integer"):
        ModelDiff(diff.comparison, top_k=0)


def test_the_snapshot_and_the_standalone_view_show_what_the_view_shows(diff):
    comparison = diff.comparison
    match = comparison.matches[0]
    diff.select("a", match.a)
    diff.wait()
    page = diff.snapshot_html()
    assert html.escape(diff.status.text) in page
    assert f"CKA {comparison.cka:.2f}" in page and page.count("only in spurious") == len(comparison.unmatched_b)
    d = diff.drawing.details
    assert f"{d['overall']['a']:.3f}" in page and f"{d['overall']['b']:.3f}" in page
    assert page.count("data:image/png;base64,") == 8  # 4 top images per side
    view = diff.standalone()
    assert view.standalone and view.status_text == diff.status.text
    (slider,) = view.controls  # standing alone (marimo), the threshold slider is drawn by the view
    assert slider["kind"] == "range" and slider["value"] == diff.min_similarity.value == 0.5
    assert (slider["min"], slider["max"]) == (-1.0, 1.0)


def test_the_threshold_slider_matches_again_and_reopens_the_open_community(sides):
    widget = ModelDiff(*sides, "layer3", "layer3", names=NAMES, top_k=2)
    widget.wait()
    first = widget.comparison
    weakest = min(first.matches, key=lambda m: m.similarity)
    widget.select("a", weakest.a)
    widget.wait()
    assert widget.drawing.details["b"]["community"] == weakest.b
    widget.min_similarity.value = round(weakest.similarity + 0.05, 2)  # just above the weakest pair
    widget.wait()
    shown = widget.comparison
    assert shown.matches == compare(*sides, "layer3", "layer3", names=NAMES, min_similarity=widget.min_similarity.value,
                                    ablation=False).matches
    assert len(shown.matches) == len(first.matches) - 1 and weakest.a in shown.unmatched_a
    g = widget.drawing.graph
    assert g["min_similarity"] == widget.min_similarity.value
    assert [(e["a"], e["b"]) for e in g["matches"]] == [(m.a, m.b) for m in shown.matches]
    # the open community lost its counterpart: it opens again alone
    assert widget.drawing.details["a"]["community"] == weakest.a and not widget.drawing.details["b"]
    assert widget.status.text.startswith(f"clean {weakest.a}: no counterpart in spurious")


def test_the_status_line_counts_the_ablations_up(sides):
    said = []
    widget = ModelDiff(*sides, "layer3", "layer3", names=NAMES, images=50)
    widget.status.observe(lambda change: said.append(widget.status.text), names="value")
    widget.wait()
    shares = [int(t.rsplit(" ", 1)[-1][:-1]) for t in said if t.startswith("comparing") and t.endswith("%")]
    assert shares and shares[-1] == 100 and shares == sorted(shares)
    assert widget.comparison.a.communities[0].accuracy_drop == pytest.approx(
        compare(*sides, "layer3", "layer3", images=50).a.communities[0].accuracy_drop)
