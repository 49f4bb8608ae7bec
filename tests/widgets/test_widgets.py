"""CommunityExplorer without a browser: set controls and deliver clicks as the front end would."""

import asyncio
import colorsys
import threading
import time

import numpy as np
import pytest
from _gates import gated

from innersight_widgets import Analysis, load_pretrained, load_shapes
from innersight_widgets.innersightnet.aggregation import DEFAULTS
from innersight_widgets.widgets import CommunityExplorer, community_explorer


@pytest.fixture(scope="module")
def analysis():
    return Analysis(load_pretrained("shapes-spurious-cnn"), load_shapes("test", n=400), layers=["layer1", "layer2", "layer3"], progress=False)


def make(analysis, **kw):
    explorer = CommunityExplorer(analysis, layers="layer3", draws=5, images=200, **kw)
    explorer.wait()
    return explorer


def front_end_click(explorer, community):
    """What the browser does on a click: a comm update of the `selected` trait."""
    explorer.view.set_state({"selected": community})


def test_the_explorer_opens_with_a_partition(analysis):
    explorer = make(analysis)
    fresh = analysis.communities("layer3", "louvain", stability_runs=0)
    assert np.array_equal(explorer.communities.labels, fresh.labels)
    nodes = explorer.view.graph["nodes"]
    assert sorted(n["community"] for n in nodes) == list(range(fresh.num_communities))
    assert [n["size"] for n in sorted(nodes, key=lambda n: n["id"])] == fresh.sizes.tolist()
    assert all(0 <= n["x"] <= 1 and 0 <= n["y"] <= 1 for n in nodes)
    assert 'data-kind="idle"' in explorer.status.value and f"{fresh.num_communities} communities" in explorer.status.value


def test_selecting_a_community_fills_the_details(analysis):
    explorer = make(analysis)
    front_end_click(explorer, 1)
    explorer.wait()
    details = explorer.view.details
    report = analysis.evaluate(explorer.communities)
    assert details["community"] == 1 and details["size"] == int(explorer.communities.sizes[1])
    assert [m["index"] for m in details["images"]] == report.top_images(1, 12).tolist()
    assert details["members"] == [f"{l}:{i}" for l, i in explorer.communities.members(1)]
    label = report.label(1)
    assert details["label"] == {"concept": label.concept, "value": label.value, "auroc": round(label.auroc, 3)}
    # thumbnails: one PNG per top image and per receptive-field patch, named by the ids the details use
    thumbs = explorer.view.thumbnails
    assert thumbs["owner"] == details["owner"]
    wanted = [m["thumb"] for m in details["images"]] + [p["thumb"] for p in details["patches"]]
    assert sorted(thumbs["ids"]) == sorted(wanted) and len(wanted) > len(details["images"]) > 0
    assert all(t[:8] == b"\x89PNG\r\n\x1a\n" for t in thumbs["pngs"])
    imp = details["importance"]
    assert imp is not None and imp["draws"] == imp["total_draws"] == 5
    expected = report.importance(1, draws=5, images=explorer.images)
    assert imp["images"] == min(explorer.images, len(analysis.data)) and imp["probe_images"] == len(analysis.data)
    assert imp["accuracy_drop"] == pytest.approx(expected.accuracy_drop, abs=5e-4)
    assert imp["p_value"] == pytest.approx(expected.p_value, abs=5e-4)
    # one number, one text: the view prints these figures to 3 decimals, as the status line
    # does, from values that already have 3 (so that no second rounding changes a digit)
    shown = [f"{imp[k]:.3f}" for k in ("accuracy_drop", "null_mean", "null_std", "p_value")]
    assert [imp[k] for k in ("accuracy_drop", "null_mean", "null_std", "p_value")] == [float(t) for t in shown]
    assert (f"drops accuracy by {shown[0]} (random sets {shown[1]} ± {shown[2]}, p = {shown[3]};"
            in explorer.status.value), explorer.status.value


def test_twenty_rapid_slider_moves_end_on_the_last_value(analysis):
    explorer = make(analysis)
    values = np.linspace(0.2, 4.0, 20)
    for value in values:
        explorer.parameter.value = float(value)
    explorer.wait()
    last = analysis.communities("layer3", "louvain", resolution=explorer.parameter.value, stability_runs=0)
    assert explorer.communities.params["resolution"] == pytest.approx(values[-1], abs=0.05)
    assert np.array_equal(explorer.communities.labels, last.labels)
    assert explorer.view.graph["communities"] == last.num_communities


def test_a_stale_result_is_never_drawn_over_a_newer_one(analysis):
    explorer = make(analysis, debounce=0.0)
    started, gate = threading.Event(), threading.Event()
    original = analysis.communities
    drawn = []
    explorer.view.observe(lambda change: drawn.append(explorer.communities.params["resolution"]), names="graph")

    def slow_first(layers, method, **kw):
        if kw.get("resolution") == 0.3:
            started.set()
            gate.wait(5)  # the older request is still running when the newer one arrives
        return original(layers, method, **kw)

    analysis.communities = slow_first
    try:
        explorer.parameter.value = 0.3
        assert started.wait(5)
        explorer.parameter.value = 2.5
        gate.set()
        explorer.wait()
    finally:
        del analysis.communities
    assert drawn == [2.5]
    assert explorer.communities.params["resolution"] == 2.5


def test_switching_method_and_graph_mode(analysis):
    explorer = make(analysis)
    explorer.method.value = "agglomerative"
    explorer.wait()
    assert explorer.parameter.description == "distance cut" and explorer.communities.method == "agglomerative"
    explorer.method.value = "spectral"
    explorer.parameter.value = 5
    explorer.wait()
    assert explorer.communities.num_communities == 5
    explorer.graph_mode.value = "neurons"
    explorer.wait()
    assert explorer.view.graph["mode"] == "neurons" and explorer.view.graph["neurons"]["count"] == 64
    explorer.layers.value = ("layer2", "layer3")
    explorer.wait()
    assert explorer.view.graph["neurons"]["count"] == 128 and explorer.communities.layers == ["layer2", "layer3"]
    assert explorer.view.graph["neurons"]["starts"] == [0, 64]


def test_an_exception_in_a_computation_shows_in_the_status_line(analysis):
    explorer = make(analysis)

    def broken(*args, **kwargs):
        raise RuntimeError("the GPU <caught fire>")

    analysis.communities = broken
    try:
        explorer.parameter.value = 1.7
        explorer.wait()
    finally:
        del analysis.communities
    assert 'data-kind="error"' in explorer.status.value
    assert "RuntimeError: the GPU &lt;caught fire&gt;" in explorer.status.value  # escaped, not HTML
    assert isinstance(explorer.status.last_error, RuntimeError)
    explorer.parameter.value = 1.0
    explorer.wait()
    assert 'data-kind="idle"' in explorer.status.value  # it recovers


def test_bad_arguments_are_explained(analysis):
    with pytest.raises(TypeError, match="needs an Analysis"):
        CommunityExplorer("not an analysis")
    with pytest.raises(ValueError, match="unknown method"):
        CommunityExplorer(analysis, method="kmeans")
    explorer = make(analysis)
    front_end_click(explorer, 99)
    assert "there is no community 99" in explorer.status.value
    explorer.layers.value = ()
    assert "select at least one layer" in explorer.status.value


def test_discs_carry_their_concept_label(analysis):
    explorer = make(analysis)
    report = analysis.evaluate(explorer.communities)
    for node in explorer.view.graph["nodes"]:
        label = report.label(node["community"])
        assert node["caption"] == ("" if label is None else label.value)
        assert str(node["community"]) in node["title"]
    assert any(node["caption"] for node in explorer.view.graph["nodes"])


def test_a_method_switch_starts_the_slider_at_the_method_default_in_one_message(analysis):
    """The browser clamps a value to the range it knows: range and value must travel together."""
    explorer = make(analysis)
    sent = []
    original = explorer.parameter.send_state
    # hold_sync hands over its set of keys and clears it afterwards: keep a copy
    explorer.parameter.send_state = lambda key=None: (sent.append({key} if isinstance(key, str) else set(key or ())), original(key))
    explorer.method.value = "spectral"
    explorer.wait()
    assert explorer.parameter.value == DEFAULTS["spectral"]["n_communities"]
    assert explorer.communities.num_communities == DEFAULTS["spectral"]["n_communities"]
    with_value = [keys for keys in sent if "value" in keys]
    assert len(with_value) == 1 and {"min", "max", "value"} <= with_value[0]


def assert_consistent(explorer, analysis):
    """What the widget shows belongs to one partition: the graph, the selection, the details,
    their pictures and the status line."""
    communities = explorer.communities
    graph, details, selected = explorer.view.graph, explorer.view.details, explorer.view.selected
    assert graph["communities"] == communities.num_communities
    assert sorted({n["community"] for n in graph["nodes"]}) == list(range(communities.num_communities))
    assert 'data-kind="busy"' not in explorer.status.value
    if selected < 0:
        assert details == {} and explorer.view.thumbnails == {}
        return
    assert details["community"] == selected and details["size"] == int(communities.sizes[selected])
    assert details["members"] == [f"{l}:{i}" for l, i in communities.members(selected)]
    assert explorer.view.thumbnails["owner"] == details["owner"]
    assert details["importance"]["draws"] == details["importance"]["total_draws"] == explorer.draws


def test_a_click_during_a_recompute_opens_that_community_in_the_new_partition(analysis, monkeypatch):
    """The race users met: drag the slider, click community 1 at once."""
    explorer = make(analysis, debounce=0.0)
    started, release = gated(monkeypatch, analysis, "communities")
    explorer.parameter.value = 2.4
    assert started.wait(10)  # the worker is inside the new partition
    front_end_click(explorer, 1)  # on the old graph, still on screen
    assert 'data-kind="busy"' in explorer.status.value
    release.set()
    explorer.wait()
    fresh = analysis.communities("layer3", "louvain", resolution=2.4, stability_runs=0)
    assert np.array_equal(explorer.communities.labels, fresh.labels)
    assert explorer.view.selected == 1
    assert_consistent(explorer, analysis)
    assert "p = " in explorer.status.value


def test_a_slider_move_while_details_load_drops_the_old_click(analysis, monkeypatch):
    import innersight_widgets.widgets.community_explorer as module

    explorer = make(analysis, debounce=0.0)
    started, release = gated(monkeypatch, module, "community_details")
    front_end_click(explorer, 2)
    assert started.wait(10)
    explorer.parameter.value = 0.6
    release.set()
    explorer.wait()
    assert explorer.communities.params["resolution"] == 0.6
    assert explorer.view.selected == -1
    assert_consistent(explorer, analysis)
    assert "click a community" in explorer.status.value


def test_switching_the_graph_mode_keeps_the_open_community(analysis):
    explorer = make(analysis, debounce=0.0)
    front_end_click(explorer, 1)
    explorer.graph_mode.value = "neurons"
    explorer.wait()
    assert explorer.view.graph["mode"] == "neurons" and explorer.view.selected == 1
    assert_consistent(explorer, analysis)


def test_two_hundred_mixed_events_end_as_a_direct_call_would(analysis):
    """Slider moves, method switches, graph modes and clicks as fast as Python can send
    them; the end state equals computing the last controls directly."""
    explorer = make(analysis, debounce=0.01)
    rng = np.random.default_rng(7)
    for step in range(200):
        event = rng.choice(["slider", "slider", "method", "mode", "click", "click"])
        if event == "slider":
            low, high = explorer.parameter.min, explorer.parameter.max
            explorer.parameter.value = float(np.round(rng.uniform(low, min(high, low + 3)), 2))
        elif event == "method":
            explorer.method.value = str(rng.choice(["louvain", "agglomerative", "spectral"]))
        elif event == "mode":
            explorer.graph_mode.value = str(rng.choice(["communities", "neurons"]))
        else:
            community = int(rng.integers(0, 4))
            if community != explorer.view.selected:
                front_end_click(explorer, community)
        if step % 40 == 0:
            time.sleep(0.05)  # let some requests start, so that cancellation is exercised
    front_end_click(explorer, 1)
    explorer.wait(timeout=300)
    params = explorer.current_params()
    direct = analysis.communities("layer3", explorer.method.value, stability_runs=0, **params)
    assert np.array_equal(explorer.communities.labels, direct.labels)
    assert explorer.view.graph["mode"] == explorer.graph_mode.value
    assert explorer.view.selected == (1 if direct.num_communities > 1 else -1)
    assert_consistent(explorer, analysis)
    if explorer.view.selected == 1:
        report = analysis.evaluate(direct)
        assert [m["index"] for m in explorer.view.details["images"]] == report.top_images(1, 12).tolist()
        expected = report.importance(1, draws=5, images=explorer.images)
        assert explorer.view.details["importance"]["accuracy_drop"] == pytest.approx(expected.accuracy_drop, abs=5e-4)


def test_results_are_applied_on_the_kernel_thread(analysis):
    """Inside a running event loop (as in ipykernel) the worker hands results to the loop."""
    applied = []

    async def session():
        explorer = CommunityExplorer(analysis, layers="layer3", draws=2, images=100, debounce=0.0)
        explorer.view.observe(lambda change: applied.append(threading.get_ident()), names="graph")
        explorer.parameter.value = 1.9
        for _ in range(600):  # the loop must stay free for the worker's hand-over
            await asyncio.sleep(0.05)
            if explorer.communities is not None and explorer.communities.params["resolution"] == 1.9:
                break
        return explorer

    explorer = asyncio.run(session())
    assert explorer.communities.params["resolution"] == 1.9
    assert applied and set(applied) == {threading.get_ident()}


def test_the_stability_shown_is_the_cores_for_the_same_settings(analysis):
    explorer = make(analysis)
    direct = analysis.communities("layer3", "louvain", stability_runs=3, **explorer.current_params())
    shown = explorer.view.stability
    assert shown["runs"] == 3 and shown["value"] == round(direct.stability, 4)
    assert shown["text"] == f"stability {direct.stability:.2f} (ARI over 3 other seeds)" and "1 = always" in shown["meaning"]
    explorer.stability_runs.value = 6  # more runs: measured again for the partition on screen
    explorer.wait()
    direct = analysis.communities("layer3", "louvain", stability_runs=6, **explorer.current_params())
    assert explorer.view.stability["runs"] == 6 and explorer.view.stability["value"] == round(direct.stability, 4)
    explorer.method.value = "agglomerative"  # deterministic: bootstrap resamples of the images instead of seeds
    explorer.wait()
    direct = analysis.communities("layer3", "agglomerative", stability_runs=6, **explorer.current_params())
    assert explorer.view.stability["value"] == round(direct.stability, 4)
    assert "ARI over 6 bootstrap resamples of the images" in explorer.view.stability["text"]
    explorer.stability_runs.value = 0
    explorer.wait()
    assert explorer.view.stability["value"] is None and "not measured" in explorer.view.stability["text"]


def test_a_slider_move_during_the_stability_run_never_shows_the_old_partitions_stability(analysis, monkeypatch):
    explorer = make(analysis, debounce=0.0)
    old = analysis.communities("layer3", "louvain", stability_runs=5, resolution=1.0).stability
    new = analysis.communities("layer3", "louvain", stability_runs=5, resolution=3.5).stability
    assert round(old, 4) != round(new, 4)  # else the test could not tell them apart
    started, release = gated(monkeypatch, analysis, "communities", when=lambda *args, **kwargs: kwargs["stability_runs"])
    shown = []
    explorer.view.observe(lambda change: shown.append(change["new"].get("value")), names="stability")
    explorer.stability_runs.value = 5  # the stability of resolution 1.0 starts, and blocks
    assert started.wait(10)
    explorer.parameter.value = 3.5
    release.set()
    explorer.wait()
    assert explorer.communities.params["resolution"] == 3.5
    assert [v for v in shown if v is not None] == [round(new, 4)]
    assert explorer.view.stability["value"] == round(new, 4) and explorer.view.stability["runs"] == 5
    assert 'data-kind="idle"' in explorer.status.value


def test_more_stability_runs_asked_while_the_graph_is_redrawn_are_measured(analysis, monkeypatch):
    """A redraw (communities -> neurons) keeps the partition: a change of the stability
    runs during it is measured for that partition, not left for a partition never coming."""
    explorer = make(analysis)
    started, release = gated(monkeypatch, community_explorer, "neuron_points")  # the redraw as neurons
    explorer.graph_mode.value = "neurons"
    assert started.wait(10)
    explorer.stability_runs.value = 5
    release.set()
    explorer.wait()
    direct = analysis.communities("layer3", "louvain", stability_runs=5, **explorer.current_params())
    assert explorer.view.stability["runs"] == 5 and explorer.view.stability["value"] == round(direct.stability, 4)


def hue(css: str) -> float:
    """The hue (0..1) of a "#rrggbb" colour."""
    return colorsys.rgb_to_hsv(*(int(css[i : i + 2], 16) / 255 for i in (1, 3, 5)))[0]


def apart(css: str, other: str) -> bool:
    """``css`` is a grey, or its hue is at least 0.1 round the circle from ``other``'s."""
    saturation = colorsys.rgb_to_hsv(*(int(css[i : i + 2], 16) / 255 for i in (1, 3, 5)))[1]
    gap = abs(hue(css) - hue(other))
    return saturation < 0.2 or min(gap, 1 - gap) >= 0.1


def test_a_community_labelled_with_a_colour_is_drawn_in_that_colour(analysis):
    """On a colour dataset a disc captioned "blue" must not be red: a community whose label
    names a colour takes that colour (shades of it for several), and the others take hues
    no colour word names."""
    from innersight_widgets.widgets.payloads.community_view import NAMED_COLOURS, WORDLESS

    explorer = make(analysis)
    graph = explorer.view.graph
    captions = {n["community"]: n["caption"] for n in graph["nodes"]}
    assert len(graph["colours"]) == graph["communities"] == len(captions)
    named = {c: caption for c, caption in captions.items() if caption in NAMED_COLOURS}
    assert len(named) >= 2, captions  # the spurious model's layer3 has colour communities
    for c, fill in enumerate(graph["colours"]):
        if c in named:  # that colour's hue (several "blue" communities: shades of one blue)
            assert abs(hue(fill) - hue(NAMED_COLOURS[named[c]])) < 0.02, (c, captions[c], fill)
        else:  # a hue no label's colour has (or a grey)
            assert fill in WORDLESS and all(apart(fill, NAMED_COLOURS[w]) for w in named.values()), fill
    assert len(set(graph["colours"])) == len(graph["colours"])  # no two communities alike


def test_standing_alone_the_view_draws_every_control_and_the_status_line(analysis):
    """For marimo (an anywidget, no ipywidgets): the view describes each control in layout
    order, a value sent from its own slider re-partitions as the ipywidgets one does, a
    method chosen there resets the slider's range, and a refused value is said, not lost."""
    explorer = make(analysis)
    view = explorer.standalone()
    assert view is explorer.view and view.standalone
    labels = [spec["label"] for spec in view.controls]
    assert labels == ["layers", "method", "stability runs", "measure stability", "resolution γ", "k neighbours",
                      "min corr", "graph", "pathways", "top images"]
    by = {spec["label"]: (i, spec) for i, spec in enumerate(view.controls)}
    index, slider = by["resolution γ"]
    assert (slider["kind"], slider["value"], slider["min"], slider["max"], slider["decimals"]) == (
        "range", 1.0, explorer.parameter.min, explorer.parameter.max, 2)
    assert by["pathways"][1]["hidden"]  # one layer: no pathways, as in the full widget
    assert view.status_kind == "idle" and f"{explorer.communities.num_communities} communities" in view.status_text

    before = explorer.communities.num_communities
    view.set_state({"control_input": {"index": index, "value": explorer.parameter.max, "n": 1}})  # what the browser sends
    explorer.wait()
    assert explorer.parameter.value == explorer.parameter.max == view.controls[index]["value"]
    assert explorer.communities.num_communities > before and f"{explorer.communities.num_communities} communities" in view.status_text

    view.set_state({"control_input": {"index": by["method"][0], "value": list(explorer.method.options).index("spectral"), "n": 2}})
    explorer.wait()
    spec = view.controls[index]
    assert explorer.method.value == "spectral" and spec["label"] == "communities k" and spec["decimals"] == 0
    assert explorer.communities.num_communities == spec["value"]

    runs = by["stability runs"][0]
    view.set_state({"control_input": {"index": runs, "value": 10**6, "n": 3}})  # clamped to its maximum
    assert view.controls[runs]["value"] == explorer.stability_runs.value == explorer.stability_runs.max
    view.set_state({"control_input": {"index": by["method"][0], "value": 99, "n": 4}})  # no such option
    explorer.wait()
    assert explorer.status.kind == "error" and explorer.status.text.startswith("method: TraitError")
    assert explorer.method.value == "spectral" == explorer.method.options[view.controls[by["method"][0]]["index"]]


def test_standing_alone_a_drawn_button_clicks_the_widgets_button(analysis):
    """A press on the drawn "pathways" toggle and "measure stability" button does what the
    ipywidgets ones do; every control a widget has can be described (none is left undrawn)."""
    from innersight_widgets import CircuitView, CriticalNeuronsView, MisclassificationDebugger, build_circuit
    from innersight_widgets.widgets._standalone import controls_of, describe_control

    explorer = CommunityExplorer(analysis, layers=["layer2", "layer3"], draws=5, images=200)
    explorer.wait()
    view = explorer.standalone()
    by = {spec["label"]: i for i, spec in enumerate(view.controls)}
    assert not view.controls[by["pathways"]]["hidden"]
    view.set_state({"control_input": {"index": by["pathways"], "value": True, "n": 1}})
    assert explorer.show_pathways.value and view.controls[by["pathways"]]["value"] is True
    explorer.wait()
    clicked = []
    explorer.measure.on_click(clicked.append)
    view.set_state({"control_input": {"index": by["measure stability"], "value": None, "n": 2}})
    assert clicked == [explorer.measure]
    explorer.wait()

    for widget in (
        CriticalNeuronsView(analysis, layer="layer3", target_class="star", concept="colour"),
        MisclassificationDebugger(analysis, layer="layer3"),
        CircuitView(build_circuit(analysis, "star", layers=["layer3", "layer2"])),
    ):
        widget.wait()
        specs = [describe_control(control) for control in controls_of(widget)]
        assert specs and widget.standalone().controls == specs


def test_several_communities_of_one_colour_word_are_shades_of_it():
    """Four "blue" communities (the 8,192-neuron view had them): one hue, four shades, so
    that neighbours stay apart; the unlabelled one takes a hue no colour word names."""
    from innersight_widgets.widgets.payloads.community_view import NAMED_COLOURS, WORDLESS, community_colours

    fills = community_colours(["blue", "blue", "red", "blue", None, "blue"])
    assert len(set(fills)) == 6 and fills[2] == NAMED_COLOURS["red"] and fills[4] in WORDLESS
    for fill in (fills[0], fills[1], fills[3], fills[5]):
        assert abs(hue(fill) - hue(NAMED_COLOURS["blue"])) < 0.02


def test_the_static_snapshot_shows_what_the_view_shows(analysis):
    """Where no kernel draws the widget (a saved notebook on GitHub, in VS Code), its snapshot
    stands in: the status line, each community with its fill and label, and the opened
    community's figures as the view prints them, text from data escaped."""
    import html

    explorer = make(analysis)
    explorer.select(0)
    explorer.wait()
    page = explorer.snapshot_html()
    graph, imp = explorer.view.graph, explorer.view.details["importance"]
    assert html.escape(explorer.status.text) in page
    for node in graph["nodes"]:
        row = f"background:{graph['colours'][node['community']]};margin-right:5px\"></span>{node['community']}</td>"
        assert row in page and f"<td style=\"padding:1px 8px;border-bottom:1px solid rgba(128,128,128,0.35);text-align:left\">{html.escape(node['caption'])}</td>" in page
    assert f"overall drop {imp['accuracy_drop']:.3f} vs random {imp['null_mean']:.3f}" in page
    # the top images (at most 6), then the images of what the community looks for
    assert page.count("data:image/png;base64,") == min(len(explorer.view.details["images"]), 6) + len(explorer.view.feature["thumbs"])
    from innersight_widgets.widgets._static import table
    assert "&lt;b&gt;" in table("c", ["h"], [["<b>"]]) and "<b>" not in table("c", ["h"], [["<b>"]])


def test_in_colab_the_custom_widget_manager_is_turned_on_once(analysis, monkeypatch, capsys):
    """Colab draws only its built-in widgets until its custom widget manager is on: the first
    display turns it on, later ones leave it; elsewhere nothing is imported."""
    import sys
    import types

    from innersight_widgets.widgets import _static

    explorer = make(analysis)
    monkeypatch.setattr(_static, "_COLAB_ENABLED", [])
    explorer._ipython_display_()
    assert "google.colab" not in sys.modules and _static._COLAB_ENABLED == []
    calls = []
    output = types.SimpleNamespace(enable_custom_widget_manager=lambda: calls.append(1))
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.setitem(sys.modules, "google.colab.output", output)
    explorer._ipython_display_()
    explorer._ipython_display_()
    assert calls == [1]
    capsys.readouterr()
