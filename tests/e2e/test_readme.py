"""README's example must run as printed."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_ten_line_example_runs(tmp_path, monkeypatch, capsys):
    text = README.read_text()
    block = re.search(r"## Ten lines\s+```python\n(.*?)```", text, re.S).group(1)
    assert len(block.strip().splitlines()) <= 10
    monkeypatch.chdir(tmp_path)
    exec(compile(block, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "->" in out and "accuracy_after" in out
    assert list((tmp_path / ".cache").glob("pass-*/meta.json"))


def test_the_two_setup_commands_are_what_ci_runs():
    ci = (README.parent / ".ci" / "run").read_text()
    text = README.read_text()
    test_command = 'python -m pip install torch==2.13.0 -e ".[test]" && python -m pytest'
    assert test_command in text
    assert ci.strip().splitlines()[-1] == test_command  # CI ends on exactly README's command
    assert 'python -m pip install torch==2.13.0 -e ".[lab]" && innersight lab' in text


def test_the_widget_example_runs_and_every_widget_settles_idle():
    text = README.read_text()
    block = re.search(r"## Widgets\s+```python\n(.*?)```", text, re.S).group(1)
    assert "from innersight_widgets import Analysis, CircuitView, CommunityExplorer" in block  # the top-level imports
    shown = [line.split("#")[0].strip() for line in block.splitlines() if line.split("(")[0] in WIDGETS]
    setup = "\n".join(line for line in block.splitlines() if line.split("(")[0] not in WIDGETS)
    namespace = {}
    exec(compile(setup, "README.md", "exec"), namespace)
    assert len(shown) == len(WIDGETS)
    for expression in shown:
        widget = eval(expression, namespace)
        widget.wait(timeout=600)
        assert 'data-kind="idle"' in widget.status.value, (expression, widget.status.value)


WIDGETS = {"CommunityExplorer", "CircuitView", "CriticalNeuronsView", "MisclassificationDebugger"}
