"""The notebooks run top to bottom in a headless kernel, full-size, and show what they promise.

Each notebook is executed once per test session (at its full settings: ``INNERSIGHT_QUICK``
is removed from the kernel's environment) and every test below reads that one execution.
A cell that raises fails the execution itself (``NotebookClient.execute`` stops there), so
no test looks for error outputs. A widget's own work runs off the kernel's thread and
reports its errors in its status line, not as a cell error: a last cell, added here, waits
for every widget the notebook made and prints its status line.
"""

import copy
import os
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
ALL = [
    "01_quickstart.ipynb", "02_your_own_model.ipynb", "03_circuits.ipynb", "04_critical_neurons.ipynb",
    "05_debugging.ipynb", "06_teaching.ipynb", "07_vision_transformer.ipynb",
]
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
OUR_WIDGETS = ("CommunityExplorer", "CircuitView", "CriticalNeuronsView", "MisclassificationDebugger")
STATUS_CELL = f"""
from IPython import get_ipython
from innersight_widgets import {", ".join(OUR_WIDGETS)}
namespace = get_ipython().user_ns
made = [*namespace.values(), *namespace.get("Out", {{}}).values()]
for view in {{id(v): v for v in made if isinstance(v, ({", ".join(OUR_WIDGETS)}))}}.values():
    view.wait()
    print("status of", type(view).__name__, view.status.value)
"""


def kernel_environment() -> dict[str, str]:
    """Full-size settings, and this checkout's package first on the kernel's path (the code
    under test, whatever is installed)."""
    env = {k: v for k, v in os.environ.items() if k != "INNERSIGHT_QUICK"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    return env


@pytest.fixture(scope="session")
def executed(tmp_path_factory):
    """``executed(name)``: the notebook after one full-size headless run (cached per session)."""
    done = {}

    def run(name):
        if name not in done:
            notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
            assert notebook.metadata["kernelspec"]["name"] == "python3"  # no kernel dialog in JupyterLab
            notebook.cells.append(nbformat.v4.new_code_cell(STATUS_CELL))
            folder = tmp_path_factory.mktemp(name.split(".")[0])
            notebook.metadata["executed_in"] = str(folder)  # where the files it writes are
            client = NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(folder)}})
            try:
                client.execute(env=kernel_environment())
                done[name] = notebook
            except Exception as exc:  # noqa: BLE001 - every test of this notebook fails with it, without a rerun
                done[name] = exc
        if isinstance(done[name], Exception):
            raise done[name]
        return done[name]

    return run


def outputs(notebook):
    for cell in notebook.cells:
        if cell.cell_type == "code":
            yield from cell.outputs


def text_of(notebook):
    return "".join(o.get("text", "") for o in outputs(notebook))


@pytest.mark.parametrize("name", ["01_quickstart.ipynb", "02_your_own_model.ipynb", "07_vision_transformer.ipynb"])
def test_notebook_runs_and_shows_the_explorer(name, executed):
    assert_shows_a_widget(executed(name))


def assert_shows_a_widget(notebook):
    views = [o for o in outputs(notebook) if WIDGET_VIEW in o.get("data", {})]
    assert views, "the widget was not displayed"


@pytest.mark.parametrize(
    "name, widget",
    [("01_quickstart.ipynb", "CommunityExplorer"), ("02_your_own_model.ipynb", "CommunityExplorer"),
     ("03_circuits.ipynb", "CircuitView"), ("04_critical_neurons.ipynb", "CriticalNeuronsView"),
     ("05_debugging.ipynb", "MisclassificationDebugger"), ("07_vision_transformer.ipynb", "CommunityExplorer")],
)
def test_the_widget_a_notebook_shows_finishes_its_work_without_an_error(name, widget, executed):
    statuses = re.findall(r"status of (\w+) (.*)", text_of(executed(name)))
    assert [kind for kind, _ in statuses] == [widget]
    assert 'data-kind="idle"' in statuses[0][1], statuses[0][1]


def rendered(text: str) -> str:
    """A stream's text as a terminal or JupyterLab shows it: a carriage return goes back to
    the start of the line, and what follows writes over it."""
    lines = []
    for line in text.split("\n"):
        shown: list[str] = []
        for part in line.split("\r"):
            shown[: len(part)] = part
        lines.append("".join(shown))
    return "\n".join(lines)


@pytest.mark.parametrize("name", ALL)
def test_progress_leaves_nothing_behind(name, executed):
    """Progress bars leave no trace in a cell: no blank stderr box (a cleared text bar), no
    widget view but our widgets' (a widget bar would be a dead 'model not found' view once
    the notebook is saved and reopened), no bar left standing."""
    for index, cell in enumerate(executed(name).cells):
        streams: dict[str, str] = {}  # consecutive outputs of one stream show as one box
        for output in cell.get("outputs", []) + [{}]:
            if output.get("output_type") == "stream":
                streams[output["name"]] = streams.get(output["name"], "") + output["text"]
                continue
            for stream, text in streams.items():
                assert rendered(text).strip(), f"cell {index} of {name} shows a blank {stream} box"
                assert "probe pass" not in rendered(text), f"cell {index} of {name}: a bar left standing"
            streams = {}
            data = output.get("data", {})
            if WIDGET_VIEW in data:
                shown = data.get("text/plain", "")
                assert shown.startswith(OUR_WIDGETS), f"cell {index} of {name} displays a widget that is not ours: {shown[:120]}"
            elif "text/plain" in data and "img/s" in data["text/plain"]:
                raise AssertionError(f"cell {index} of {name}: a bar left standing: {data['text/plain'][:120]}")


def test_quickstart_prints_accuracy_and_a_community_table(executed):
    notebook = executed("01_quickstart.ipynb")
    shown = "".join(o.get("data", {}).get("text/plain", "") for o in outputs(notebook))
    assert "ImageDataset(1000 images" in shown  # the full-size run
    assert "accuracy on the test images: 0." in text_of(notebook)
    tables = [o["data"]["text/html"] for o in outputs(notebook) if "text/html" in o.get("data", {})]
    assert any("label_auroc" in t and "colour=" in t for t in tables)


def test_circuits_notebook_debugs_a_yellow_square_and_checks_fidelity(executed):
    notebook = executed("03_circuits.ipynb")
    assert_shows_a_widget(notebook)
    text = text_of(notebook)
    called = int(re.search(r"(\d+) yellow squares are called stars", text).group(1))
    assert called > 0 and "crops above threshold" in text
    core, random_ = map(float, re.search(r"changed by ([\d.]+) \(core inputs\) vs ([\d.]+)", text).groups())
    assert core > 2 * random_


def test_critical_neurons_notebook_finds_mechanisms_that_read_the_digit(executed):
    notebook = executed("04_critical_neurons.ipynb")
    assert_shows_a_widget(notebook)
    text = text_of(notebook)
    nmi, random_nmi = map(float, re.search(r"NMI with the digit ([\d.]+) vs ([\d.]+)", text).groups())
    assert nmi > random_nmi


def test_the_debugging_notebook_finds_the_colour_shortcut(executed):
    """The errors are in the predicted class's colour, switching off the blue community fixes
    a good share of the blue stars called triangles, and the widget shows the same."""
    notebook = executed("05_debugging.ipynb")
    text = text_of(notebook)
    assert "star -> triangle" in text and "of them blue (triangle's training colour)" in text
    fixed = int(re.search(r"\(colour = blue\) fixes (\d+)% of the errors", text).group(1))
    assert fixed >= 40
    in_widget, errors = map(int, re.search(r"(\d+) of (\d+) errors fixed in the widget", text).groups())
    assert in_widget / errors == pytest.approx(fixed / 100, abs=0.01)
    status = re.search(r"status of MisclassificationDebugger (.*)", text).group(1)
    assert "switching off layer3 community" in status


def test_the_teaching_notebook_finds_the_shortcut_three_ways_and_writes_an_offline_page(executed):
    """The lesson's three findings hold at full size, and its page is written, whole and
    small: the triangle class loses far more than with random neurons when the blue
    community is off, what the blue community wants (its visualisation) is blue and beats
    every probe image, the shortcut put colour communities where the honest model has shape ones, the triangle circuit's groups are mostly colour groups, and the
    critical neurons of 'triangle' fall in the blue community far above chance."""
    notebook = executed("06_teaching.ipynb")
    text = text_of(notebook)
    accuracy = int(re.search(r"accuracy on test images: (\d+)%", text).group(1))
    assert accuracy < 70
    drop, null, spread = map(float, re.search(r"triangle: ([+-][\d.]+)\s+\(random sets ([+-][\d.]+) \+- ([\d.]+)\)", text).groups())
    assert drop > null + 5 * max(spread, 0.01)
    groups = re.findall(r"\d+ neurons, (colour|shape) = (\w+)", text)
    assert sum(kind == "colour" for kind, _ in groups) >= 0.75 * len(groups)
    chosen, inside, size = map(int, re.search(r"(\d+) critical neurons .*?; (\d+) of them are in the blue community \((\d+) neurons", text).groups())
    assert inside / chosen > 2 * size / 64
    assert re.search(r"colour=blue -> triangle", text)
    # what the blue community wants is blue: the blue channel leads the mean colour of its visualisation
    red, green, blue = map(float, re.search(r"mean colour \(red, green, blue\) = \(([\d.]+), ([\d.]+), ([\d.]+)\)", text).groups())
    assert blue > max(red, green) + 0.1
    low, best = map(float, re.search(r"these images: ([\d.]+) to [\d.]+; on the best probe image: ([\d.]+)", text).groups())
    assert low > best
    # what the shortcut changed: colour communities only in the spurious model, in the place of shape ones
    only_spurious = re.findall(r"only in the spurious model: community \d+ \((\w+)=(\w+)", text)
    only_clean = re.findall(r"only in the clean model: community \d+ \((\w+)=(\w+)", text)
    assert only_spurious and all(concept == "colour" for concept, _ in only_spurious), only_spurious
    assert only_clean and all(concept == "shape" for concept, _ in only_clean), only_clean
    page = Path(notebook.metadata["executed_in"]) / "shapes-spurious-report.html"
    assert page.exists() and page.stat().st_size <= 5e6
    assert page.read_text(encoding="utf-8").rstrip().endswith("</html>")


def test_the_vision_transformer_notebook_reads_patch_grids_and_labels_communities(executed):
    text = text_of(executed("07_vision_transformer.ipynb"))
    assert "vit.layers.2 output (65, 48) -> patch grid (8, 8) after 1 CLS token" in text
    labelled = re.findall(r"community \d+: (\w+)=\w+ \(AUROC (0\.\d+)\), top image \d+ at \((\d+), (\d+), (\d+), (\d+)\)", text)
    assert labelled, text
    for _, _, top, left, bottom, right in labelled:  # every box is one whole 8x8 patch
        assert (int(bottom) - int(top), int(right) - int(left)) == (8, 8) and int(top) % 8 == int(left) % 8 == 0


def test_a_saved_notebook_shows_a_card_where_a_widget_was_without_a_kernel(executed):
    """GitHub, nbviewer and nbconvert's HTML cannot draw a widget without its saved state and
    fall back on the output's HTML: a card that names the widget and says how to see it."""
    from nbconvert import HTMLExporter

    notebook = executed("01_quickstart.ipynb")
    views = [o for o in outputs(notebook) if WIDGET_VIEW in o.get("data", {})]
    assert views and all("data-innersight-static" in o["data"]["text/html"] for o in views)
    saved = copy.deepcopy(notebook)
    saved.metadata.pop("widgets", None)  # as VS Code saves it: no widget state, so no live view
    page, _ = HTMLExporter().from_notebook_node(saved)
    assert page.count('data-innersight-static="1"') == len(views)
    assert "<b>CommunityExplorer</b>: Explore the communities" in page and "needs a running Python kernel" in page


def test_a_saved_notebook_keeps_a_snapshot_of_each_widget_as_last_computed(executed):
    """Under each widget a second output holds what its view shows, rewritten by the kernel
    each time a computation ends: saved after the last one, it says what the live status
    line says and lists the communities on screen, also where no widget state is saved."""
    from nbconvert import HTMLExporter

    notebook = executed("01_quickstart.ipynb")
    finals = dict(re.findall(r"status of (\w+) <div.*?<span>(.*?)</span></div>", text_of(notebook)))
    assert finals.get("CommunityExplorer"), text_of(notebook)
    cell = next(c for c in notebook.cells if c.cell_type == "code" and any(WIDGET_VIEW in o.get("data", {}) for o in c.outputs))
    snapshots = [o["data"]["text/html"] for o in cell.outputs if "data-innersight-snapshot" in o.get("data", {}).get("text/html", "")]
    assert len(snapshots) == 1
    snapshot = snapshots[0]
    assert finals["CommunityExplorer"] in snapshot  # the status as it ended, not as the cell left it
    count = int(re.match(r"(\d+) communities", finals["CommunityExplorer"]).group(1))
    rows = re.search(r">(\d+) communities</div><table.*?</table>", snapshot)
    assert rows and int(rows.group(1)) == count == rows.group(0).count("<tr>") - 1
    saved = copy.deepcopy(notebook)
    saved.metadata.pop("widgets", None)
    page, _ = HTMLExporter().from_notebook_node(saved)
    assert finals["CommunityExplorer"] in page and "a snapshot: run the notebook for the live view" in page


THREAD_CELLS = [
    """import threading
from innersight_widgets import Analysis, CommunityExplorer, load_pretrained, load_shapes
an = Analysis(load_pretrained("shapes-cnn"), load_shapes("test", n=120), layers=["layer2"], progress=False)
explorer = CommunityExplorer(an, layers="layer2", draws=3, images=60)
applied = []
explorer.view.observe(lambda change: applied.append(threading.current_thread().name), names="graph")
explorer.parameter.value = 2.0
explorer""",
    """import asyncio
for _ in range(600):  # the kernel's loop runs while this cell awaits: results arrive as they would between cells
    await asyncio.sleep(0.1)
    if applied and explorer.status.kind == "idle":
        break
print("applied on", sorted(set(applied)), "worker", [t.name for t in threading.enumerate() if t.name.startswith("innersight")])""",
]


def test_results_reach_the_view_from_the_kernels_thread(tmp_path):
    """ipykernel 7 sends messages from other threads only with care (ipywidgets #4001): the
    widgets compute on their worker and apply results on the kernel's own thread, as seen
    from a real kernel while its loop runs."""
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in THREAD_CELLS])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute(
        env=kernel_environment())
    printed = text_of(notebook)
    assert "applied on ['MainThread'] worker ['innersight_0']" in printed, printed
