import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from innersight_widgets import cli
from innersight_widgets.cli import copy_notebooks, main
from innersight_widgets.widgets._assets import asset


def test_demo_prints_layers_and_class_accuracy(capsys):
    assert main(["demo", "--model", "digits-cnn", "--draws", "5"]) == 0
    out = capsys.readouterr().out
    for layer, neurons in [("conv1", 16), ("conv2", 32), ("conv3", 64), ("fc1", 64), ("fc2", 10)]:
        assert any(line.split()[:1] == [layer] and f"{neurons} neurons" in line for line in out.splitlines())
    accuracy_block = out.split("accuracy: ")[1].split("\n\n")[0].splitlines()
    assert accuracy_block[0].startswith("0.99")
    assert [line.split()[0] for line in accuracy_block[1:]] == [str(d) for d in range(10)]
    community_rows = out.split("drop   null      p\n")[1].strip().splitlines()
    assert "communities of relu2" in out and len(community_rows) >= 2
    assert all(len(row.split()) >= 6 and 0 < float(row.split()[-1]) <= 1 for row in community_rows)


def test_python_dash_m_runs_the_embedded_default(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "innersight_widgets", "demo", "--cache-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=900, check=True,  # a hang guard, not a timing
    )
    assert "model shapes-spurious-cnn" in done.stdout
    assert "layer3.conv2" in done.stdout
    assert "where colour agrees with shape" in done.stdout and "disagrees" in done.stdout
    assert "as meant: it was trained where colour gave the shape away" in done.stdout  # why accuracy is 0.521
    assert "(on all 2000 images)" in done.stdout
    assert "communities of layer2" in done.stdout and "colour=" in done.stdout
    assert list(tmp_path.glob("pass-*/meta.json"))


# --- innersight lab: working copies of the notebooks, arguments, and stopping ---------------------------

SHIPPED = asset("notebooks/01_quickstart.ipynb").parent


def not_run(command, env=None):
    raise AssertionError(f"JupyterLab should not start: {command}")


def test_lab_copies_every_shipped_notebook_into_an_empty_folder(tmp_path):
    target = tmp_path / "new" / "notebooks"
    copied, kept = copy_notebooks(SHIPPED, target)
    shipped = sorted(p.name for p in SHIPPED.glob("*.ipynb"))
    assert "01_quickstart.ipynb" in shipped and len(shipped) >= 4
    assert (copied, kept) == (shipped, [])
    assert all((target / name).read_bytes() == (SHIPPED / name).read_bytes() for name in shipped)


def test_lab_keeps_an_edited_notebook_and_copies_a_missing_one(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cli, "_run_until_stopped", lambda command, env=None: 0)
    assert main(["lab", "--dir", str(tmp_path)]) == 0
    edited, missing = tmp_path / "01_quickstart.ipynb", tmp_path / "02_your_own_model.ipynb"
    edited.write_text('{"cells": [], "my": "edits"}')
    missing.unlink()
    capsys.readouterr()

    assert main(["lab", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert edited.read_text() == '{"cells": [], "my": "edits"}'
    assert missing.read_bytes() == (SHIPPED / missing.name).read_bytes()
    assert "kept your copy of 01_quickstart.ipynb" in out
    assert "kept your copy of 02_your_own_model.ipynb" not in out
    assert f"notebooks in {tmp_path} (copied 02_your_own_model.ipynb)" in out


def test_lab_passes_other_arguments_to_jupyter_lab_and_defaults_to_the_current_directory(
    tmp_path, monkeypatch, capsys
):
    calls = []
    monkeypatch.setattr(cli, "_run_until_stopped", lambda command, env=None: calls.append(command) or 0)
    monkeypatch.chdir(tmp_path)
    assert main(["lab", "--no-browser", "--port", "9999", "--ServerApp.token=abc"]) == 0
    (command,) = calls
    folder = tmp_path / "innersight-notebooks"
    assert command[1:5] == ["-m", "jupyter", "lab", f"--ServerApp.root_dir={folder}"]
    assert command[5] == str(folder / "01_quickstart.ipynb") and Path(command[5]).exists()
    assert command[6:9] == ["--no-browser", "--port", "9999"] and "--ServerApp.token=abc" in command
    assert f"notebooks in {folder}" in capsys.readouterr().out


def test_lab_refuses_to_work_in_the_shipped_notebooks_folder(monkeypatch, capsys):
    monkeypatch.setattr(cli, "_run_until_stopped", not_run)
    assert main(["lab", "--dir", str(SHIPPED)]) == 1
    assert "holds the shipped notebooks; choose another folder with --dir" in capsys.readouterr().err


def test_lab_without_jupyterlab_says_how_to_install_it_and_copies_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cli, "_has_module", lambda name: False)
    monkeypatch.setattr(cli, "_run_until_stopped", not_run)
    assert main(["lab", "--dir", str(tmp_path / "notebooks")]) == 1
    assert "python -m pip install jupyterlab" in capsys.readouterr().err
    assert not (tmp_path / "notebooks").exists()


# Stands in for `jupyter lab`: writes its pid to argv[1], then serves (sleeps) until stopped;
# with argv[2] == "ignore" it ignores SIGINT and SIGTERM, as a hung server would. Like
# JupyterLab, it answers SIGINT with a question (it only notes the signal in <argv[1]>.asked)
# and SIGTERM by shutting down cleanly (noted in <argv[1]>.stopped).
FAKE_JUPYTER_LAB = """
import os, pathlib, signal, sys, time
pid = pathlib.Path(sys.argv[1])
if sys.argv[2] == "ignore":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
else:
    signal.signal(signal.SIGINT, lambda *_: pid.with_suffix(".asked").write_text("Shut down this Jupyter server (y/[n])?"))
    signal.signal(signal.SIGTERM, lambda *_: (pid.with_suffix(".stopped").write_text("kernels shut down"), sys.exit(0)))
pid.write_text(str(os.getpid()))
time.sleep(600)
"""
# `innersight lab --dir <argv[1]> <argv[2]> <argv[3]>` with the fake for jupyter lab and argv[4] s to stop it.
INNERSIGHT_LAB = f"""
import signal, sys
from innersight_widgets import cli
FAKE = {FAKE_JUPYTER_LAB!r}
cli._jupyter_lab_command = lambda folder, notebook, extra: [sys.executable, "-c", FAKE, *extra]
cli._STOP_TIMEOUT_S = float(sys.argv[4])
signal.signal(signal.SIGINT, signal.default_int_handler)  # as from a terminal, even if pytest ignores SIGINT
sys.exit(cli.main(["lab", "--dir", *sys.argv[1:4]]))
"""


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize(
    "signum, child, stop_timeout_s",
    [(signal.SIGTERM, "obey", 60), (signal.SIGINT, "obey", 60), (signal.SIGTERM, "ignore", 1)],
    ids=["SIGTERM", "SIGINT", "SIGTERM-ignored"],
)
@pytest.mark.parametrize("terminal", [False, True], ids=["to-innersight", "ctrl-c-to-the-group"])
def test_stopping_innersight_lab_stops_jupyter_lab(tmp_path, signum, child, stop_timeout_s, terminal):
    """A signal to `innersight lab` reaches its server as SIGTERM, which it waits for; one that
    ignores it is killed. A terminal's Ctrl-C (SIGINT to the whole foreground process group)
    stops it with one press, never asking JupyterLab's shut-down question."""
    pidfile, log = tmp_path / "pid", tmp_path / "log"
    with open(log, "w") as output:  # a file, not a pipe, that a child left running would hold open
        arguments = [str(tmp_path / "nb"), str(pidfile), child, str(stop_timeout_s)]
        parent = subprocess.Popen(
            [sys.executable, "-c", INNERSIGHT_LAB, *arguments], stdout=output, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, as a terminal's foreground job has
        )
    pid = None
    try:
        deadline = time.monotonic() + 120
        while not (pidfile.exists() and pidfile.read_text()):
            assert parent.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the fake jupyter lab did not start"
            time.sleep(0.05)
        pid = int(pidfile.read_text())
        if terminal:
            os.killpg(parent.pid, signum)
        else:
            parent.send_signal(signum)
        parent.wait(timeout=20)  # well under stop_timeout_s when the signal is passed on
        out = log.read_text()
        assert parent.returncode == 128 + signum, out
        assert ("did not stop within 1 s of the signal; killing it" in out) == (child == "ignore"), out
        assert not pidfile.with_suffix(".asked").exists(), "JupyterLab was asked to confirm its shut-down"
        assert pidfile.with_suffix(".stopped").exists() == (child == "obey"), out
        deadline = time.monotonic() + 3
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(pid), f"jupyter lab (pid {pid}) outlived innersight lab:\n{out}"
    finally:
        for leftover in (pid, parent.pid):
            if leftover is not None and alive(leftover):
                os.kill(leftover, signal.SIGKILL)
        parent.wait()


def test_report_from_an_analysis_cache_opens_it_without_a_forward_pass(tmp_path, monkeypatch, capsys):
    """`innersight report --analysis-cache DIR` rebuilds the cached analysis of a shipped
    model and writes the same page as `--model` did, with the model never run for the
    pass (only the importance tests' ablations run it)."""
    from innersight_widgets.engine import probe as probe_module

    cache = tmp_path / "cache"
    assert main(["report", "--model", "shapes-cnn", "--cache-dir", str(cache), "--draws", "2", "--images", "50",
                 "--out", str(tmp_path / "first.html")]) == 0
    monkeypatch.setattr(probe_module, "streaming_pass", lambda *args: pytest.fail("the pass ran again"))
    assert main(["report", "--analysis-cache", str(cache), "--draws", "2", "--images", "50",
                 "--out", str(tmp_path / "again.html")]) == 0
    assert "again.html" in capsys.readouterr().out
    first, again = (tmp_path / "first.html").read_text(), (tmp_path / "again.html").read_text()
    assert len(again) > 100_000 and again.count("data:image/png") == first.count("data:image/png")
    assert main(["report", "--analysis-cache", str(tmp_path), "--out", str(tmp_path / "none.html")]) == 2
    assert "holds no analysis of a shipped model" in capsys.readouterr().err
    assert main(["report", "--analysis-cache", str(tmp_path / "missing"), "--out", str(tmp_path / "none.html")]) == 2
    assert "is not a folder" in capsys.readouterr().err


def test_report_visualise_asks_the_page_for_what_each_community_looks_for(tmp_path, monkeypatch):
    from innersight_widgets import reports

    asked = {}

    def page(found, out, **options):
        asked.update(options)
        out.write_text("a page")
        return out

    monkeypatch.setattr(reports, "communities_html", page)
    for flag, wanted in (([], False), (["--visualise"], True)):
        assert main(["report", "--model", "digits-cnn", "--out", str(tmp_path / "page.html"), *flag]) == 0
        assert asked["visualise"] is wanted


def test_lab_prints_an_address_that_opens_the_quickstart(tmp_path, monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(cli, "_run_until_stopped", lambda command, env=None: calls.append((command, env)) or 0)
    monkeypatch.delenv("JUPYTER_TOKEN", raising=False)
    assert main(["lab", "--dir", str(tmp_path), "--no-browser"]) == 0
    (command, env), = calls
    (port,) = [a.split("=")[1] for a in command if a.startswith("--ServerApp.port=")]
    token = env["JUPYTER_TOKEN"]
    assert len(token) >= 32 and token not in " ".join(command)  # not on the command line, where ps shows it
    out = capsys.readouterr().out
    assert f"the quickstart opens at http://localhost:{port}/lab/tree/01_quickstart.ipynb?token={token}" in out

    calls.clear()
    assert main(["lab", "--dir", str(tmp_path), "--port", "9999"]) == 0  # the user's port: theirs to open
    (command, env), = calls
    assert env is None and not any(a.startswith("--ServerApp.port=") for a in command)
    assert "the quickstart opens at" not in capsys.readouterr().out


def test_the_lab_extra_brings_notebook_7_which_the_docs_say_is_supported():
    import tomllib

    extras = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(re.fullmatch(r"notebook>=7(\.\d+)*", dep) for dep in extras["lab"]), extras["lab"]
