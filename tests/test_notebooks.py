"""The notebooks run top to bottom in a headless kernel, and show what they promise."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def run(name, tmp_path):
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    assert notebook.metadata["kernelspec"]["name"] == "python3"  # no kernel dialog in JupyterLab
    NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    return notebook


def outputs(notebook):
    for cell in notebook.cells:
        if cell.cell_type == "code":
            yield from cell.outputs


@pytest.mark.parametrize("name", ["01_quickstart.ipynb", "02_your_own_model.ipynb"])
def test_notebook_runs_and_shows_the_explorer(name, tmp_path):
    notebook = run(name, tmp_path)
    assert_shows_a_widget(notebook)


def assert_shows_a_widget(notebook):
    views = [o for o in outputs(notebook) if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert views, "the widget was not displayed"
    assert not [o for o in outputs(notebook) if o.get("output_type") == "error"]


def test_quickstart_prints_accuracy_and_a_community_table(tmp_path):
    notebook = run("01_quickstart.ipynb", tmp_path)
    text = "".join(o.get("text", "") for o in outputs(notebook))
    assert "accuracy on the test images: 0." in text
    tables = [o["data"]["text/html"] for o in outputs(notebook) if "text/html" in o.get("data", {})]
    assert any("label_auroc" in t and "colour=" in t for t in tables)


def test_circuits_notebook_debugs_a_yellow_square_and_checks_fidelity(tmp_path):
    notebook = run("03_circuits.ipynb", tmp_path)
    assert_shows_a_widget(notebook)
    text = "".join(o.get("text", "") for o in outputs(notebook))
    import re

    called = int(re.search(r"(\d+) yellow squares are called stars", text).group(1))
    assert called > 0 and "crops above threshold" in text
    core, random_ = map(float, re.search(r"changed by ([\d.]+) \(core inputs\) vs ([\d.]+)", text).groups())
    assert core > 2 * random_


def test_critical_neurons_notebook_finds_mechanisms_that_read_the_digit(tmp_path):
    import re

    notebook = run("04_critical_neurons.ipynb", tmp_path)
    assert_shows_a_widget(notebook)
    text = "".join(o.get("text", "") for o in outputs(notebook))
    nmi, random_nmi = map(float, re.search(r"NMI with the digit ([\d.]+) vs ([\d.]+)", text).groups())
    assert nmi > random_nmi
