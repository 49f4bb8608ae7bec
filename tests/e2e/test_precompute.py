"""``innersight precompute`` under torchrun and under srun's environment (gloo, CPU): rank 0
writes one cache entry, and an analysis made elsewhere of the same model, folder and
settings opens it with no forward pass and the numbers of a single-process run."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from innersight_widgets import Analysis, load_image_folder, load_pretrained, load_shapes, save_image_folder
from innersight_widgets.cli import main
from innersight_widgets.engine import probe as probe_module

LAYERS = ["layer1", "layer2", "layer3"]
COMMAND = ["precompute", "--model", "shapes-cnn", "--layers", *LAYERS, "--batch-size", "64"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_image_folder(load_shapes("test", n=300), tmp_path_factory.mktemp("probe") / "shapes")


def opened(folder: Path, cache: Path | None) -> Analysis:
    model = load_pretrained("shapes-cnn")
    data = load_image_folder(folder, size=64, resize=64, mean=None, std=None, classes=model.class_names)
    return Analysis(model, data, layers=LAYERS, cache_dir=cache, progress=False)


def no_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: object) -> None:
        raise AssertionError("the pass ran again instead of opening the cache")

    monkeypatch.setattr(probe_module, "streaming_pass", refuse)


def test_torchrun_job_writes_a_cache_that_opens_elsewhere_without_a_pass(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         "-m", "innersight_widgets", *COMMAND, "--data", str(folder), "--cache-dir", str(cache)],
        check=False, capture_output=True, text=True, timeout=180, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "300 images x 3 layers on 2 process(es)" in done.stdout
    assert [p.name.startswith("pass-") for p in cache.iterdir()] == [True], "one entry, no leftovers"
    single = opened(folder, None)
    single.profiles("layer1")
    code = done.stdout[done.stdout.index("from innersight_widgets import"):]
    no_pass(monkeypatch)
    namespace: dict = {}
    exec(code, namespace)  # noqa: S102 - the lines the command printed open the entry
    an = namespace["an"]
    assert an.cached
    assert np.array_equal(an.predictions.logits, single.predictions.logits)
    for layer in LAYERS:
        assert np.array_equal(an.profiles(layer), single.profiles(layer))
        assert np.array_equal(an.neuron_means(layer), single.neuron_means(layer))
        assert np.array_equal(an.top_images(layer, 2).positions, single.top_images(layer, 2).positions)
    # the explorer works on the opened pass, reading the few images it shows from the folder
    from innersight_widgets import CommunityExplorer

    before = an.data.cached_images()
    explorer = CommunityExplorer(an, layers="layer3", draws=3, images=60)
    explorer.wait()
    explorer.view.set_state({"selected": 0})
    explorer.wait()
    assert explorer.view.details["images"] and explorer.view.thumbnails["pngs"][0][:4] == b"\x89PNG"
    assert before < an.data.cached_images() < len(an.data)


def test_srun_environment_joins_the_job_and_rank_0_alone_writes(folder: Path, tmp_path: Path) -> None:
    """srun starts every task itself and sets SLURM_PROCID and SLURM_STEP_NUM_TASKS; the
    batch script exports MASTER_ADDR. Each rank is given its own folder here (node-local
    disks): rank 0 alone writes, and when only rank 0 finds the entry the second time,
    every rank runs the pass again instead of waiting for the others."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    caches = [tmp_path / "rank0", tmp_path / "rank1"]
    for attempt in range(2):
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "innersight_widgets", *COMMAND, "--data", str(folder),
                 "--cache-dir", str(caches[rank]), "--timeout", "30"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                env={**os.environ, "OMP_NUM_THREADS": "1", "SLURM_PROCID": str(rank), "SLURM_LOCALID": str(rank),
                     "SLURM_STEP_NUM_TASKS": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port + attempt)},
            )
            for rank in range(2)
        ]
        outputs = [proc.communicate(timeout=120) for proc in procs]
        assert [proc.returncode for proc in procs] == [0, 0], outputs[0][1][-2000:] + outputs[1][1][-2000:]
        assert "on 2 process(es)" in outputs[0][0] and outputs[1][0] == "", "rank 0 alone reports"
        assert ("the entry was in the cache already" in outputs[0][0]) == (attempt == 1)
        assert [p.name[:5] for p in caches[0].iterdir()] == ["pass-"] and not list(caches[1].iterdir())
    assert opened(folder, caches[0]).cached


def test_a_factory_module_gives_the_model(folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "my_models.py").write_text(
        "from innersight_widgets import load_pretrained\n\ndef shapes():\n    return load_pretrained('shapes-cnn')\n"
    )
    (tmp_path / "classes.txt").write_text("circle\nsquare\n\ntriangle\nstar\n")
    monkeypatch.chdir(tmp_path)
    args = ["precompute", "--model", "my_models:shapes", "--data", str(folder), "--layers", "layer3",
            "--size", "64", "--resize", "64", "--no-normalise", "--classes", "classes.txt", "--cache-dir", "cache"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "from my_models import shapes" in out and "classes=['circle', 'square', 'triangle', 'star']" in out
    namespace: dict = {}
    exec(out[out.index("from innersight_widgets import"):], namespace)  # noqa: S102 - the printed lines
    assert namespace["an"].cached


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--model", "resnet"], "neither a shipped model"),
        (["--model", "no_such_module:make"], "cannot import 'no_such_module'"),
        (["--model", "os:no_such_function"], "has no function 'no_such_function'"),
        (["--model", "os:getcwd"], "it must return the torch.nn.Module"),
    ],
)
def test_a_wrong_model_says_what_to_give(
    args: list[str], said: str, folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main(["precompute", *args, "--data", str(folder), "--cache-dir", str(tmp_path)]) == 2
    assert said in capsys.readouterr().err


def test_srun_without_master_addr_says_how_to_set_it(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.setenv("SLURM_PROCID", "0")
    monkeypatch.setenv("SLURM_STEP_NUM_TASKS", "4")
    assert main(["precompute", *COMMAND[1:], "--data", str(folder), "--cache-dir", str(tmp_path)]) == 2
    assert "export MASTER_ADDR" in capsys.readouterr().err


def test_a_copied_folder_opens_the_cache_when_its_times_are_kept_and_says_why_not_otherwise(
    folder: Path, tmp_path: Path
) -> None:
    import shutil
    import warnings

    cache = tmp_path / "cache"
    opened(folder, cache).profiles("layer1")
    kept = shutil.copytree(folder, tmp_path / "rsync-a")  # copy2: modification times kept
    assert opened(kept, cache).cached
    fresh = shutil.copytree(folder, tmp_path / "scp", copy_function=shutil.copy)  # new times
    an = opened(fresh, cache)
    assert not an.cached
    with pytest.warns(UserWarning, match=r"over 300 other images .* copy folders with `rsync -a`"):
        an.profiles("layer1")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opened(fresh, cache).profiles("layer1")  # its own entry now: no warning
