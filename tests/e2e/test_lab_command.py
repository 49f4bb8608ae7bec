"""`innersight lab` against a real JupyterLab: the address it prints opens the quickstart,
and one Ctrl-C (SIGINT to the terminal's foreground group) stops the server and its
kernels cleanly, leaving no server files behind."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def test_the_printed_address_opens_the_quickstart_and_one_ctrl_c_stops_everything(tmp_path: Path) -> None:
    runtime = tmp_path / "runtime"
    env = os.environ | {"JUPYTER_RUNTIME_DIR": str(runtime), "JUPYTER_CONFIG_DIR": str(tmp_path / "config")}
    env.pop("JUPYTER_TOKEN", None)
    log = tmp_path / "log"
    with open(log, "w") as output:
        lab = subprocess.Popen(
            [sys.executable, "-m", "innersight_widgets.cli", "lab", "--dir", str(tmp_path / "nb"), "--no-browser"],
            stdout=output, stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 120
        address = None
        while address is None:
            assert lab.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            found = re.search(r"the quickstart opens at (http://localhost:(\d+)/lab/tree/(\S+)\?token=(\w+))", log.read_text())
            address = found.groups() if found else None
            time.sleep(0.2)
        url, port, notebook, token = address
        assert notebook == "01_quickstart.ipynb"
        contents = f"http://localhost:{port}/api/contents/{notebook}?content=0&token={token}"
        while True:  # the server takes a few seconds to listen
            try:
                with urllib.request.urlopen(contents, timeout=5) as answer:
                    assert json.load(answer)["type"] == "notebook"
                break
            except OSError:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.5)
        with urllib.request.urlopen(url, timeout=30) as page:
            assert page.status == 200 and "JupyterLab" in page.read().decode()
        kernels = f"http://localhost:{port}/api/kernels?token={token}"
        request = urllib.request.Request(kernels, data=b"{}", method="POST", headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as answer:
            kernel = json.load(answer)["id"]
        assert list(runtime.glob("jpserver-*.json")) and list(runtime.glob(f"kernel-{kernel}*.json"))

        os.killpg(lab.pid, signal.SIGINT)  # one Ctrl-C in the terminal
        lab.wait(timeout=30)
        out = log.read_text()
        assert lab.returncode == 128 + signal.SIGINT, out
        assert "Shut down this Jupyter server" not in out and "killing it" not in out, out
        assert not list(runtime.glob("jpserver-*")), "stale server files"
        assert not list(runtime.glob("kernel-*.json")), "a kernel outlived the server"
    finally:
        if lab.poll() is None:
            os.killpg(lab.pid, signal.SIGKILL)
            lab.wait()
