"""The top-level namespace: widgets loaded on first use, every public name importable, one version."""

import ast
import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import nbformat
import pytest

import innersight_widgets
from innersight_widgets import widgets
from innersight_widgets.neucept import critical

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
WIDGETS = ["CircuitView", "CommunityExplorer", "CriticalNeuronsView", "MisclassificationDebugger", "ModelDiff"]

# Imports the package and every module outside widgets/ (walk_packages would import widgets/ itself
# to recurse into it), lists and reads the public names other than the widgets, then reports which
# UI toolkits got imported on the way.
FRESH_IMPORT = """
import importlib, json, pkgutil, sys
import innersight_widgets

for top in pkgutil.iter_modules(innersight_widgets.__path__, "innersight_widgets."):
    if top.name not in {"innersight_widgets.widgets", "innersight_widgets.__main__"}:
        module = importlib.import_module(top.name)
        for found in pkgutil.walk_packages(getattr(module, "__path__", []), top.name + "."):
            importlib.import_module(found.name)
names = dir(innersight_widgets)
for name in innersight_widgets.__all__:
    if name not in sys.argv[1:]:  # the widget names
        getattr(innersight_widgets, name)
hasattr(innersight_widgets, "no_such_name")
print(json.dumps({"dir": names, "loaded": sorted({"ipywidgets", "anywidget"} & set(sys.modules))}))
"""


@pytest.fixture(scope="module")
def fresh_import():
    """What a new interpreter sees after importing the package and using its headless parts."""
    done = subprocess.run(
        [sys.executable, "-c", FRESH_IMPORT, *WIDGETS],
        check=False, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_package_and_its_core_import_no_widget_toolkit(fresh_import):
    assert fresh_import["loaded"] == []


def test_dir_lists_the_widgets_before_they_are_loaded(fresh_import):
    assert set(WIDGETS) <= set(fresh_import["dir"])
    assert set(innersight_widgets.__all__) <= set(fresh_import["dir"])


def test_the_widgets_resolve_from_the_top_level_as_the_same_classes():
    from innersight_widgets import (
        CircuitView,
        CommunityExplorer,
        CriticalNeuronsView,
        MisclassificationDebugger,
        ModelDiff,
    )

    shown = [CircuitView, CommunityExplorer, CriticalNeuronsView, MisclassificationDebugger, ModelDiff]
    assert shown == [getattr(widgets, name) for name in WIDGETS]
    for name in WIDGETS:
        assert getattr(innersight_widgets, name) is getattr(widgets, name)
    assert set(widgets.__all__) <= set(innersight_widgets.__all__)


def test_every_name_in_all_is_importable_and_all_is_sorted():
    namespace: dict = {}
    exec("from innersight_widgets import *", namespace)  # noqa: S102  (a star import needs a namespace of its own)
    del namespace["__builtins__"]
    assert sorted(namespace) == innersight_widgets.__all__
    for name in innersight_widgets.__all__:
        assert getattr(innersight_widgets, name) is namespace[name]
    assert innersight_widgets.__all__ == sorted(set(innersight_widgets.__all__))


def test_neucept_is_exported_from_the_top_level_and_its_package():
    names = ["CriticalNeurons", "MechanismReport", "Mechanisms", "ablation_comparison", "critical_neurons",
             "evaluate_mechanisms", "mechanisms", "saliency"]
    for name in names:
        assert getattr(innersight_widgets, name) is getattr(innersight_widgets.neucept, name) is getattr(critical, name)
    assert set(names) <= set(innersight_widgets.__all__) & set(innersight_widgets.neucept.__all__)


def test_feature_visualisation_is_exported_from_the_top_level_and_its_room():
    from innersight_widgets import visualisation

    for name in ["Visualisation", "unit_objective", "visualise"]:
        assert getattr(innersight_widgets, name) is getattr(visualisation, name)
        assert name in innersight_widgets.__all__ and name in visualisation.__all__
    assert callable(innersight_widgets.visualise)  # the function; the room is innersight_widgets.visualisation


def test_the_comparison_is_exported_from_the_top_level_and_its_room():
    from innersight_widgets import comparison

    for name in ["CircuitComparison", "CommunityComparison", "compare"]:
        assert getattr(innersight_widgets, name) is getattr(comparison, name)
        assert name in innersight_widgets.__all__ and name in comparison.__all__


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda path: path.name)
def test_what_the_notebooks_import_from_the_top_level_is_public(path):
    imported = [
        alias.name
        for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "code"
        for node in ast.walk(ast.parse(cell.source))
        if isinstance(node, ast.ImportFrom) and node.module == "innersight_widgets"
        for alias in node.names
    ]
    assert set(imported) <= set(innersight_widgets.__all__)


def test_the_version_is_the_installed_one():
    assert innersight_widgets.__version__ == metadata.version("innersight_widgets")


def test_an_unknown_name_is_an_attribute_error_that_says_where_to_look():
    with pytest.raises(AttributeError, match=r"'innersight_widgets' has no attribute 'CircuitVeiw'.*__all__"):
        innersight_widgets.CircuitVeiw  # noqa: B018
    with pytest.raises(ImportError):
        from innersight_widgets import no_such_name  # noqa: F401
