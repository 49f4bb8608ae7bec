"""The wheel carries the front-end module and the notebooks; `innersight lab` opens the quickstart."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import innersight_widgets.cli as cli

ROOT = Path(__file__).resolve().parents[2]


def test_the_wheel_ships_the_widget_module_and_notebooks(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True, capture_output=True, timeout=600,
    )
    (wheel,) = tmp_path.glob("innersight_widgets-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"innersight_widgets/static/community_view.js", "innersight_widgets/static/circuit_view.js"} <= names
    assert "innersight_widgets/notebooks/01_quickstart.ipynb" in names
    assert {f"innersight_widgets/models/weights/{m}.pt" for m in ("digits-cnn", "shapes-spurious-cnn")} <= names


def test_innersight_lab_opens_the_quickstart(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(cli, "_run_until_stopped", lambda command, env=None: calls.append(command) or 0)
    monkeypatch.chdir(tmp_path)  # the working copies go to tmp_path/innersight-notebooks, not the checkout
    assert cli.main(["lab", "--no-browser", "--port=9999"]) == 0
    (command,) = calls
    assert command[1:4] == ["-m", "jupyter", "lab"]
    assert command[5].endswith("01_quickstart.ipynb") and Path(command[5]).exists()
    assert "--no-browser" in command and "--port=9999" in command
    assert ("--allow-root" in command) == (os.geteuid() == 0)
