"""What the real-browser tests share: a JupyterLab server on the notebooks, Debian's
headless Chromium driven by Playwright, and waits on what the page and the kernel show.

The notebooks run at their small settings (``INNERSIGHT_QUICK=1``): these tests check the
widgets, not the methods' speed; tests/test_notebooks.py runs every notebook full-size.
Every step that needs the kernel first waits until every cell has run and the kernel is
idle, and every wait is on what the page shows (never on text also in a cell's source).
Screenshots go to $INNERSIGHT_SCREENSHOTS (default: the test's temporary folder).
Needs Debian's ``chromium`` (.ci/run installs it); elsewhere the tests are skipped, in CI
(``CI`` set) they fail instead. The tests live in several files (tests/test_browser_*.py) so that parallel test
processes (pytest-xdist, one file each) run them side by side.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]


def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("Debian's chromium is missing: .ci/run must install it (apt-get install chromium)")
        pytest.skip("needs Debian's chromium (apt-get install chromium)")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_idle_kernel(base: str, token: str, timeout: float = 300, quiet: float = 2.0) -> None:
    """The page's kernel is started and has stayed idle for ``quiet`` seconds (asked of the
    server, the same for both front ends): the messages a click or a drag sent have been
    handled, and so has any cell still queued."""
    deadline = time.monotonic() + timeout
    idle_since = None
    while time.monotonic() < deadline:
        try:
            sessions = json.load(urllib.request.urlopen(f"{base}/api/sessions?token={token}", timeout=10))
        except OSError:  # a loaded server may answer late; ask again
            sessions = []
        if sessions and all(s["kernel"]["execution_state"] == "idle" for s in sessions):
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since >= quiet:
                return
        else:
            idle_since = None
        time.sleep(0.25)
    raise TimeoutError(f"the notebook's kernel did not become idle in {timeout:.0f} s")


def write_settings(folder: Path, theme: str = "JupyterLab Light") -> None:
    """Render every cell (no windowing), never autosave into the notebook, no update checks,
    and JupyterLab's ``theme``."""
    settings = {
        "@jupyterlab/apputils-extension/themes.jupyterlab-settings": {"theme": theme},
        "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "defer"},
        "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"checkForUpdates": False, "fetchNews": "false"},
    }
    for relative, values in settings.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


def lab_environment() -> dict[str, str]:
    """The server's (and so the kernel's) environment: the notebooks' small settings, and this
    checkout's package first on the kernel's path (the code under test, whatever is installed)."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "JUPYTER_PLATFORM_DIRS": "1", "INNERSIGHT_QUICK": "1", "PYTHONPATH": path}


def lab_root(tmp_path: Path) -> Path:
    """The folder the test's JupyterLab serves (:func:`jupyter_lab` on ``tmp_path``)."""
    return tmp_path / "root"


def write_notebook(folder: Path, name: str, cells: list[str]) -> None:
    """A notebook of these code cells, with a kernelspec (else JupyterLab asks for a kernel)."""
    notebook = {
        "cells": [
            {"cell_type": "code", "execution_count": None, "id": f"cell{i}", "metadata": {}, "outputs": [], "source": source}
            for i, source in enumerate(cells)
        ],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (folder / name).write_text(json.dumps(notebook, indent=1))


@contextmanager
def jupyter_lab(tmp_path: Path, theme: str = "JupyterLab Light") -> Iterator[tuple[str, str]]:
    """A JupyterLab server on copies of the notebooks in ``tmp_path``, in ``theme``: (its
    address, its token)."""
    root = lab_root(tmp_path)
    root.mkdir()
    for notebook in ("01_quickstart.ipynb", "03_circuits.ipynb", "04_critical_neurons.ipynb", "05_debugging.ipynb"):
        shutil.copy(ROOT / "notebooks" / notebook, root)
    write_settings(tmp_path / "settings", theme)
    port, token = free_port(), "innersight-test"
    command = [
        sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.token={token}", f"--ServerApp.root_dir={root}", "--allow-root",
        f"--LabApp.user_settings_dir={tmp_path / 'settings'}", f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",
    ]
    base = f"http://127.0.0.1:{port}"
    with serving(command, tmp_path / "lab.log", f"{base}/api/status?token={token}", env=lab_environment()):
        yield base, token


@contextmanager
def serving(command: list[str], log: Path, ready: str, env: dict[str, str], cwd: Path | None = None) -> Iterator[None]:
    """Run a server (``command``, its output in ``log``) until ``ready`` answers, hold it
    while the block runs, then stop it; one that dies or takes over 180 s fails with its log."""
    with open(log, "w") as out:  # the server writes to its own copy of the file
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd)
    deadline = time.monotonic() + 180
    while True:
        try:
            urllib.request.urlopen(ready, timeout=2)
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                raise RuntimeError(f"{' '.join(command[2:4])} did not start:\n" + log.read_text()[-3000:]) from None
            time.sleep(0.5)
    try:
        yield
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()


# Each code cell's prompt, and the first traceback shown in any output (a cell that raised).
CELLS_STATE = """() => ({
    prompts: [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].map(p => p.innerText.trim()),
    error: [...document.querySelectorAll('.jp-OutputArea-output')].map(o => o.innerText)
             .find(t => t.includes('Traceback (most recent call last)')) || null,
})"""


def open_and_run(page, base: str, token: str, path: str, timeout: float = 900) -> None:
    """Open the notebook, run all its cells, and return once every code cell has run (its
    prompt shows a number, not ``[*]`` or ``[ ]``) and the kernel is idle. A cell that
    raised fails the test at once, with its traceback."""
    served = json.load(urllib.request.urlopen(f"{base}/api/contents/{Path(path).name}?token={token}", timeout=30))
    code_cells = sum(c["cell_type"] == "code" for c in served["content"]["cells"])
    page.goto(f"{base}/{path}?token={token}")
    page.locator(".jp-Notebook").first.wait_for(timeout=180_000)
    wait_for_idle_kernel(base, token)
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_text("Run All Cells", exact=True).click()
    deadline = time.monotonic() + timeout
    while True:
        state = page.evaluate(CELLS_STATE)
        if state["error"]:
            pytest.fail(f"a cell of {path} raised:\n{state['error']}")
        prompts = state["prompts"]
        if len(prompts) == code_cells and all(re.fullmatch(r"\[\d+\]:", p) for p in prompts):
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path}: cells not run after {timeout:.0f} s; prompts {prompts}")
        time.sleep(0.5)
    wait_for_idle_kernel(base, token)


def kernel_json(base: str, token: str, code: str, timeout: float = 120) -> Any:
    """Run ``code`` in the kernel of the server's one session (the open notebook's, with its
    variables) and return the JSON its last printed line holds: how a test reads the result
    objects a widget shows. A ``code`` that raises raises RuntimeError with its traceback.

    The request goes over the server's kernel channel, as the page's own does, from a thread of
    its own (Playwright's sync API holds this thread's event loop)."""
    sessions = json.load(urllib.request.urlopen(f"{base}/api/sessions?token={token}", timeout=10))
    if len(sessions) != 1:
        raise RuntimeError(f"expected the one open notebook's session, the server has {len(sessions)}")
    url = f"{base.replace('http', 'ws', 1)}/api/kernels/{sessions[0]['kernel']['id']}/channels?token={token}"
    with ThreadPoolExecutor(1) as thread:
        printed = thread.submit(asyncio.run, _execute(url, code, timeout)).result()
    lines = printed.strip().splitlines()
    if not lines:
        raise RuntimeError(f"the kernel printed nothing for:\n{code}")
    return json.loads(lines[-1])


async def _execute(url: str, code: str, timeout: float) -> str:
    """What ``code`` prints on stdout, run by the kernel behind the channel at ``url``."""
    from tornado.websocket import websocket_connect

    channel = await websocket_connect(url)
    request = uuid.uuid4().hex
    header = {"msg_id": request, "msg_type": "execute_request", "username": "test", "session": uuid.uuid4().hex,
              "version": "5.3", "date": ""}
    content = {"code": code, "silent": False, "store_history": False, "user_expressions": {}, "allow_stdin": False,
               "stop_on_error": True}
    await channel.write_message(json.dumps(
        {"header": header, "parent_header": {}, "metadata": {}, "content": content, "channel": "shell"}))
    printed = []
    try:
        while True:
            raw = await asyncio.wait_for(channel.read_message(), timeout)
            if raw is None:
                raise RuntimeError("the kernel's channel closed before the code ran")
            if not isinstance(raw, str):  # a widget's binary message to the page
                continue
            message = json.loads(raw)
            if message.get("parent_header", {}).get("msg_id") != request:
                continue
            kind, body = message["msg_type"], message["content"]
            if kind == "stream" and body["name"] == "stdout":
                printed.append(body["text"])
            elif kind == "error":
                raise RuntimeError("the kernel raised:\n" + re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(body["traceback"])))
            elif kind == "status" and body["execution_state"] == "idle":
                return "".join(printed)
    finally:
        channel.close()


def settled(base: str, token: str, status, timeout: float = 300) -> None:
    """What the widget was asked has been computed: the kernel is idle (it has handled every
    message the page sent), then the widget's status line says idle (its background work is
    done), or the test fails with the error the status line shows."""
    from playwright.sync_api import expect

    wait_for_idle_kernel(base, token, timeout=timeout)
    expect(status).to_have_attribute("data-kind", re.compile("^(idle|error)$"), timeout=timeout * 1000)
    assert status.get_attribute("data-kind") == "idle", status.inner_text()


@contextmanager
def browser_page(shots: Path):
    """A Chromium page, the page errors it collects, and a full-page screenshot at the end."""
    executable = chromium()
    from playwright.sync_api import sync_playwright

    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(f"{exc}\n{exc.stack}"))
        try:
            yield page, errors
        finally:
            page.screenshot(path=str(shots / "last.png"), full_page=True)
            browser.close()


def console_errors(page) -> list[str]:
    """The console errors the page logs from now on (filled in as they come)."""
    found: list[str] = []
    page.on("console", lambda message: found.append(message.text) if message.type == "error" else None)
    return found


def open_explorer(page, base: str, token: str, path: str):
    """Run the notebook at ``path``, wait for its CommunityExplorer to show and settle, and
    return the explorer and its status line."""
    from playwright.sync_api import expect

    open_and_run(page, base, token, path)
    explorer = page.get_by_test_id("community-explorer")
    expect(explorer).to_be_visible(timeout=120_000)
    status = page.get_by_test_id("explorer-status")
    settled(base, token, status)
    return explorer, status


def drag_to_the_right_end(page, slider) -> None:
    """Drag an ipywidgets slider's handle past the end of its track, as a user would."""
    slider.scroll_into_view_if_needed()
    handle, track = slider.locator(".noUi-handle").first, slider.locator(".noUi-target").first
    box, bar = handle.bounding_box(), track.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(bar["x"] + bar["width"] + 20, box["y"] + box["height"] / 2, steps=12)
    page.mouse.up()


def wait_for_loaded_images(page, testid: str, timeout: int) -> None:
    """Wait until there are images with this data-testid and every one has decoded pixels."""
    page.wait_for_function(
        """(testid) => { const imgs = [...document.querySelectorAll(`[data-testid="${testid}"]`)];
                         return imgs.length > 0 && imgs.every(i => i.complete && i.naturalWidth > 0); }""",
        arg=testid,
        timeout=timeout,
    )


def pixel_spread(page, testid: str) -> list[float]:
    """The standard deviation of the pixel values (0..1) of each loaded image with this
    data-testid, as the page decoded it: near 0 for a blank or uniform picture."""
    return page.evaluate("""(testid) => [...document.querySelectorAll(`[data-testid="${testid}"]`)].map((img) => {
        const canvas = document.createElement("canvas");
        canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
        const context = canvas.getContext("2d");
        context.drawImage(img, 0, 0);
        const pixels = context.getImageData(0, 0, canvas.width, canvas.height).data;
        let sum = 0, squares = 0, n = 0;
        for (let i = 0; i < pixels.length; i += 4) for (let c = 0; c < 3; c++) { const v = pixels[i + c] / 255; sum += v; squares += v * v; n++; }
        return Math.sqrt(squares / n - (sum / n) ** 2);
    })""", testid)


def assert_no_clipped_labels(page) -> None:
    """No control's description, button or image caption is cut off ("k neighbo…", "debug
    this ima…", "square → tria…") at the default notebook width."""
    clipped = page.evaluate("""() => [...document.querySelectorAll(
            '.widget-label, .widget-label-basic, .jupyter-button, .isw-root figcaption')]
        .filter(l => l.offsetParent !== null && l.scrollWidth > l.clientWidth + 1).map(l => l.innerText)""")
    assert not clipped, f"clipped labels: {clipped}"


def shoot(page, locator, path: Path) -> None:
    """A screenshot of one widget whole: a viewport tall enough that JupyterLab's scrolling
    panel neither clips it nor lays its toolbar over it."""
    size = page.viewport_size
    page.set_viewport_size({"width": size["width"], "height": 2400})
    locator.scroll_into_view_if_needed()
    locator.screenshot(path=str(path))
    page.set_viewport_size(size)


def screenshot_dir(tmp_path: Path, name: str) -> Path:
    return Path(os.environ.get("INNERSIGHT_SCREENSHOTS", tmp_path / "screenshots")) / name
