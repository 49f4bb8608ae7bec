"""The ``innersight`` console command (also ``python -m innersight_widgets``)."""

from __future__ import annotations

import argparse
import importlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import torch

from ._validation import Constraint, Interval, check
from .analysis import Analysis
from .data import ImageFolder, colour_agrees_with_shape, load_digits, load_image_folder, load_shapes
from .engine import ModelRunner, Probe, RankFailed
from .models import DEMO_MODELS, load_pretrained

_DEMO_DATA = {
    "digits-cnn": lambda: load_digits("digits", "test"),
    "parity-cnn": lambda: load_digits("parity", "test"),
    "shapes-cnn": lambda: load_shapes("test"),
    "shapes-spurious-cnn": lambda: load_shapes("test"),
}
DEFAULT_MODEL = "shapes-spurious-cnn"
# The layer whose communities the demo prints: a mid-depth block output.
_MID_LAYER = {"digits-cnn": "relu2", "parity-cnn": "relu2", "shapes-cnn": "layer2", "shapes-spurious-cnn": "layer2"}


def demo(
    model_name: str = DEFAULT_MODEL, device: str | None = None, cache_dir: str | None = None, draws: int = 20,
    images: int | None = None,
) -> Analysis:
    """Analyse a shipped model on its test split and print a summary: layers, accuracy,
    and the communities of one mid layer with their labels and ablation importance (each
    test on ``images`` probe images, None: all; the tests are most of the demo's time)."""
    model = load_pretrained(model_name)
    data = _DEMO_DATA[model_name]()
    mid = _MID_LAYER[model_name]
    # every conv and linear layer (the default) and the mid block
    units = Analysis(model, data, device=device, progress=False).layers
    analysis = Analysis(model, data, layers=[*units, mid], device=device, cache_dir=cache_dir)
    predictions = analysis.predictions
    print(f"model {model_name} on {data} ({analysis.device})")
    print("\nlayers analysed:")
    width = max(len(n) for n in analysis.layers)
    for name in analysis.layers:
        info = analysis.layer_info(name)
        shape = "x".join(map(str, info.shape))
        print(f"  {name:<{width}}  {info.module_type:<10} {info.num_neurons:>4} neurons  ({shape})")
    print(f"\naccuracy: {predictions.accuracy:.3f}")
    for name, acc in zip(data.class_names, predictions.class_accuracy):
        print(f"  {name:<10} {acc:.3f}")
    if "colour" in data.concepts:
        agree = colour_agrees_with_shape(data)
        correct = predictions.correct
        print(
            f"\nwhere colour agrees with shape ({agree.sum()} images): {correct[agree].mean():.3f}; "
            f"where it disagrees ({(~agree).sum()} images): {correct[~agree].mean():.3f}"
        )
        if model_name == "shapes-spurious-cnn":
            print(
                "  (as meant: it was trained where colour gave the shape away, in 95% of the images, and learned "
                "colour;\n   most test images have another colour than their shape's, so it fails there: the "
                "debugging story)"
            )
    _print_communities(analysis, mid, draws, images)
    return analysis


def _print_communities(analysis: Analysis, layer: str, draws: int, images: int | None) -> None:
    communities = analysis.communities(layer, "louvain")
    report = analysis.evaluate(communities)
    print(f"\ncommunities of {layer}: {communities}")
    on = f"all {len(analysis.data)}" if images is None or images >= len(analysis.data) else f"{images} of the {len(analysis.data)}"
    print(f"importance: accuracy drop when the community is zeroed, against {draws} random sets of its size "
          f"(on {on} images)")
    print(f"  {'#':>2} {'size':>4}  {'label (AUROC)':<24} {'top classes':<26} {'drop':>6} {'null':>6} {'p':>6}")
    for c in range(communities.num_communities):
        label = report.label(c)
        top = ", ".join(report.top_classes(c))
        imp = report.importance(c, draws=draws, images=images)
        text = "-" if label is None else f"{label.concept}={label.value} ({label.auroc:.2f})"
        print(
            f"  {c:>2} {communities.sizes[c]:>4}  {text:<24} {top:<26} "
            f"{imp.accuracy_drop:>6.3f} {imp.null_mean:>6.3f} {imp.p_value:>6.3f}"
        )


def report(
    model_name: str | None, out: Path, layers: list[str] | None = None, device: str | None = None,
    cache_dir: str | None = None, draws: int = 20, images: int | None = None, top_images: int = 8,
    analysis_cache: str | None = None, visualise: bool = False,
) -> Path:
    """Write the self-contained HTML report of a shipped model's communities on its test split.

    Parameters
    ----------
    model_name
        A shipped demo model (``DEMO_MODELS``); None with ``analysis_cache``.
    out
        The HTML file to write; its folder must exist.
    layers
        The layers whose louvain communities are reported, one section each (default: the
        model's mid-depth block, as in ``innersight demo``).
    device
        Where the model runs (default: CUDA when present).
    cache_dir
        Cache the pass in this folder.
    draws
        Random neuron sets per importance test.
    images
        Probe images each importance test runs on (default: all).
    top_images
        Images shown per community.
    analysis_cache
        Instead of ``model_name``: a cache folder an analysis of a shipped model on its
        test split wrote (``innersight demo/report --cache-dir``, or
        ``Analysis(load_pretrained(name), <its test split>, cache_dir=...)``). Its newest
        such entry is opened, with no forward pass; ``layers`` default to the model's mid
        block when the entry has it, else the entry's last layer.
    visualise
        Also show what each community looks for (its feature visualisation; this runs the
        model, seconds per community).

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    ValueError
        If the folder of ``out`` does not exist, a layer is not the model's, or
        ``analysis_cache`` holds no entry of a shipped model on its test split.
    """
    from .reports import communities_html, output_path

    out = output_path(out)  # a wrong folder is said before the pass
    if analysis_cache is not None:
        analysis = _open_cache(analysis_cache, device)
        model_name = analysis.model.demo_name
        layers = layers or ([_MID_LAYER[model_name]] if _MID_LAYER[model_name] in analysis.layers else analysis.layers[-1:])
        unknown = [layer for layer in layers if layer not in analysis.layers]
        if unknown:
            raise ValueError(f"the cached analysis has no layer {', '.join(unknown)}; its layers are {', '.join(analysis.layers)}")
    else:
        layers = layers or [_MID_LAYER[model_name]]
        analysis = Analysis(load_pretrained(model_name), _DEMO_DATA[model_name](), layers=layers, device=device,
                      cache_dir=cache_dir, progress=False)
    reports = [analysis.evaluate(analysis.communities(layer, "louvain")) for layer in layers]
    return communities_html(reports, out, top_images=top_images, draws=draws, images=images, visualise=visualise)


def _open_cache(folder: str, device: str | None) -> Analysis:
    """The analysis of the newest entry of ``folder`` made by a shipped model on its test
    split, opened from the cache (no forward pass)."""
    from .engine import cached_analyses

    path = Path(folder).expanduser()
    if not path.is_dir():
        raise ValueError(f"--analysis-cache {folder!r} is not a folder; give the --cache-dir of an earlier run")
    for meta in cached_analyses(path):
        name, settings = meta.get("model"), meta.get("settings", {})
        if name not in _DEMO_DATA:
            continue
        analysis = Analysis(load_pretrained(name), _DEMO_DATA[name](), layers=settings["layers"], device=device,
                      pooling=settings["pooling"], profiles_dtype=settings["profiles_dtype"],
                      precision=settings["precision"], cache_dir=path, progress=False)
        if analysis.cached:
            return analysis
    raise ValueError(
        f"{folder} holds no analysis of a shipped model on its test split (what `innersight demo --cache-dir` "
        "or `innersight report --cache-dir` write); write the report of another analysis from Python with "
        "an.evaluate(communities).to_html(path), or name a shipped model with --model"
    )


# How long a process of a precompute job waits for the others at a collective (a rank that
# died or hangs) before it stops with an error.
_JOB_TIMEOUT_S = 1800


def precompute(
    model: str, data: str, layers: list[str] | None, cache_dir: str, *, size: int | None = None,
    resize: int | None = None, normalise: bool | None = None, classes: str | None = None, batch_size: int = 256,
    pooling: str = "mean", precision: str = "fp32", profiles_dtype: str = "float32", device: str | None = None,
    workers: int = 0, timeout_s: int = _JOB_TIMEOUT_S,
) -> Analysis:
    """Run the streaming pass of ``model`` over an image folder into ``cache_dir``, sharded
    across the processes of a job when started by ``torchrun`` or ``srun``.

    Parameters
    ----------
    model
        A shipped model's name, or ``MODULE:FACTORY``: a function of an importable module
        (the current folder is searched too) that returns the ``nn.Module``.
    data
        A folder of class sub-folders (:func:`load_image_folder`).
    layers
        Layers to analyse (default: every conv and linear layer).
    cache_dir
        Where rank 0 writes the cache entry.
    size, resize, normalise
        The folder's decoding recipe; default the ImageNet recipe at 224 px, or for a
        shipped model its own (its side, no resize margin, no normalisation).
    classes
        A text file of the class names in the model's output order, one per line (default:
        a shipped model's names, else the sorted sub-folder names).
    batch_size, pooling, precision, profiles_dtype
        As for :class:`Analysis`.
    device
        Default: this process's GPU (``LOCAL_RANK``) when there is one, else the CPU.
    workers
        ``DataLoader`` processes decoding images, per rank.
    timeout_s
        Seconds a rank waits for the others at a collective before it stops with an error.

    Returns
    -------
    Analysis
        The analysis with its pass done (every rank holds all of it).
    """
    rank, world, local = _join_job(device, timeout_s)
    try:
        net = _load_model(model)
        shipped = model in DEMO_MODELS
        if shipped:
            side = int(_DEMO_DATA[model]().images.shape[-1])
            size, resize = size or side, resize or size or side
            normalise = bool(normalise)
        recipe = {"size": size or 224, "resize": resize}
        if normalise is False:
            recipe |= {"mean": None, "std": None}
        names = _class_names(classes) if classes else getattr(net, "class_names", None) if shipped else None
        folder = load_image_folder(data, **recipe, classes=names, num_workers=workers)
        if device is None and torch.cuda.is_available():
            device = f"cuda:{local}"
        started = time.perf_counter()
        analysis = Analysis(net, folder, layers=layers, device=device, batch_size=batch_size, pooling=pooling,
                      cache_dir=cache_dir, progress=rank == 0, precision=precision, profiles_dtype=profiles_dtype)
        found = analysis.cached
        accuracy = analysis.predictions.accuracy
        seconds = time.perf_counter() - started
        if rank == 0:
            print(f"{len(folder)} images x {len(analysis.layers)} layers on {world} process(es) ({analysis.device}): "
                  f"{seconds:.1f} s ({len(folder) / seconds:,.0f} images/s"
                  f"{', the entry was in the cache already' if found else ''}); accuracy {accuracy:.3f}")
            print(f"cache: {Path(cache_dir).resolve()}")
            print("open it anywhere (no GPU needed) with the same model, folder and settings:")
            print(_opening_code(model, data, recipe, names, analysis, cache_dir))
        return analysis
    finally:
        if world > 1:
            torch.distributed.destroy_process_group()


def _join_job(device: str | None, timeout_s: int) -> tuple[int, int, int]:
    """Join the process group that ``torchrun`` (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
    ``MASTER_ADDR``/``PORT``) or ``srun`` (``SLURM_PROCID``, ``SLURM_STEP_NUM_TASKS``,
    ``SLURM_LOCALID``, with ``MASTER_ADDR`` exported by the batch script) describes:
    NCCL on GPUs, else gloo. Returns (rank, world size, local rank); (0, 1, 0) alone."""
    env = os.environ
    if "WORLD_SIZE" not in env and int(env.get("SLURM_STEP_NUM_TASKS", "1")) > 1 and "SLURM_PROCID" in env:
        if "MASTER_ADDR" not in env:
            raise ValueError(
                "under srun, every task must know rank 0's host: export MASTER_ADDR in the batch script, "
                'e.g. export MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)'
            )
        env.setdefault("MASTER_PORT", "29500")
        env["RANK"], env["WORLD_SIZE"] = env["SLURM_PROCID"], env["SLURM_STEP_NUM_TASKS"]
        env["LOCAL_RANK"] = env.get("SLURM_LOCALID", "0")
    world, local = int(env.get("WORLD_SIZE", "1")), int(env.get("LOCAL_RANK", "0"))
    if world == 1:
        return 0, 1, local
    gpu = torch.cuda.is_available() and (device is None or device.startswith("cuda"))
    if gpu:
        torch.cuda.set_device(local)
    torch.distributed.init_process_group("nccl" if gpu else "gloo", timeout=timedelta(seconds=timeout_s))
    return torch.distributed.get_rank(), world, local


def _load_model(spec: str) -> torch.nn.Module:
    """A shipped model by name, or the module a ``MODULE:FACTORY`` function returns."""
    if spec in DEMO_MODELS:
        return load_pretrained(spec)
    module_name, _, factory = spec.partition(":")
    if not module_name or not factory:
        raise ValueError(
            f"--model {spec!r} is neither a shipped model ({', '.join(DEMO_MODELS)}) nor MODULE:FACTORY, "
            "e.g. mymodels:resnet50 for a function resnet50() in mymodels.py that returns the model"
        )
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ValueError(f"cannot import {module_name!r} for --model {spec}: {error}") from error
    make = getattr(module, factory, None)
    if not callable(make):
        raise ValueError(f"module {module_name!r} has no function {factory!r} (--model {spec})")
    net = make()
    if not isinstance(net, torch.nn.Module):
        raise TypeError(f"{spec}() returned {type(net).__name__}; it must return the torch.nn.Module to analyse")
    return net


def _class_names(path: str) -> list[str]:
    """The class names of a text file, one per line (blank lines skipped)."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as error:
        raise ValueError(f"cannot read the class names file {path!r} ({error.strerror or error})") from error
    return [line.strip() for line in lines if line.strip()]


def _opening_code(model: str, data: str, recipe: dict, names: list[str] | None, analysis: Analysis, cache_dir: str) -> str:
    """The Python lines that open the cached pass again, with no forward pass."""
    if model in DEMO_MODELS:
        load = f"from innersight_widgets import Analysis, load_image_folder, load_pretrained\nmodel = load_pretrained({model!r})"
    else:
        module_name, _, factory = model.partition(":")
        load = f"from innersight_widgets import Analysis, load_image_folder\nfrom {module_name} import {factory}\nmodel = {factory}()"
    options = "".join(f", {k}={v!r}" for k, v in recipe.items() if v is not None or k in ("mean", "std"))
    if names is not None:
        options += ", classes=model.class_names" if model in DEMO_MODELS and getattr(analysis.model, "class_names", None) == names \
            else f", classes={names!r}"
    settings = "".join(
        f", {k}={v!r}" for k, v in (("pooling", analysis.pooling), ("precision", analysis.runner.precision),
                                     ("profiles_dtype", analysis.profiles_dtype)) if v not in ("mean", "fp32", "float32")
    )
    return (f"{load}\nan = Analysis(model, load_image_folder({str(Path(data).resolve())!r}{options}), "
            f"layers={analysis.layers!r}, cache_dir={str(Path(cache_dir).resolve())!r}{settings})")


NOTEBOOKS_DIR = Path("innersight-notebooks")
# How long a stopped ``innersight lab`` gives JupyterLab to shut down (kernels included)
# after passing the signal on, before it kills it.
_STOP_TIMEOUT_S = 10.0
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def lab(extra: list[str], folder: Path = NOTEBOOKS_DIR) -> int:
    """Copy the shipped notebooks into ``folder`` and open the quickstart there in JupyterLab.

    JupyterLab autosaves outputs into the notebooks it opens, so it works on copies in a
    folder of the user's, never on the tracked notebooks of a checkout or the installed
    package. Notebooks already in ``folder`` are the user's and are kept as they are.

    Parameters
    ----------
    extra
        Arguments passed on to ``jupyter lab`` (e.g. ``--no-browser``).
    folder
        The working folder, created when missing; relative to the current directory.

    Returns
    -------
    int
        The exit status for the shell: JupyterLab's, 1 when it cannot start, or
        128 + the signal number when ``innersight lab`` was stopped by SIGINT or SIGTERM.
    """
    from .widgets._assets import asset

    if not _has_module("jupyterlab"):
        print("JupyterLab is not installed; install it with: python -m pip install jupyterlab", file=sys.stderr)
        return 1
    quickstart = asset("notebooks/01_quickstart.ipynb")
    folder = folder.absolute()
    if folder.resolve() == quickstart.parent.resolve():
        print(f"{folder} holds the shipped notebooks; choose another folder with --dir PATH", file=sys.stderr)
        return 1
    try:
        copied, kept = copy_notebooks(quickstart.parent, folder)
    except OSError as error:
        print(
            f"cannot put the notebooks in {folder} ({error.strerror or error}); "
            "choose another folder with --dir PATH",
            file=sys.stderr,
        )
        return 1
    for name in kept:
        print(f"kept your copy of {name}")
    print(f"notebooks in {folder}" + (f" (copied {', '.join(copied)})" if copied else ""))
    command = _jupyter_lab_command(folder, folder / quickstart.name, extra)
    env = None
    if not any(a.startswith(("--port", "--ServerApp.port", "--IdentityProvider.token", "--ServerApp.token"))
               for a in extra) and "JUPYTER_TOKEN" not in os.environ:
        # a port and token of ours, so that the address printed opens the quickstart itself (JupyterLab's
        # own opens the Launcher); the token goes by environment, unseen by other users' `ps`
        port, token = _free_port(), secrets.token_hex(24)
        command += [f"--ServerApp.port={port}", "--ServerApp.port_retries=0"]
        env = os.environ | {"JUPYTER_TOKEN": token}
    print("starting:", " ".join(command), flush=True)
    if env is not None:
        print(f"the quickstart opens at http://localhost:{port}/lab/tree/{quickstart.name}?token={token}", flush=True)
    return _run_until_stopped(command, env)


def _free_port() -> int:
    """A TCP port of this machine that no one listens on now."""
    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        return probe.getsockname()[1]


def copy_notebooks(source: Path, target: Path) -> tuple[list[str], list[str]]:
    """Copy the notebooks of ``source`` that ``target`` lacks, never overwriting one already there.

    Parameters
    ----------
    source
        The folder of the shipped notebooks.
    target
        The working folder, created (with its parents) when missing.

    Returns
    -------
    copied, kept : list of str
        The names of the notebooks copied, and of those left as they were in ``target``.
    """
    target.mkdir(parents=True, exist_ok=True)
    copied, kept = [], []
    for notebook in sorted(source.glob("*.ipynb")):
        data = notebook.read_bytes()
        destination = target / notebook.name
        created = False
        try:  # "x": create only, so not even a file that appeared since the listing is overwritten
            with open(destination, "xb") as copy:
                created = True
                copy.write(data)
        except FileExistsError:
            kept.append(notebook.name)
            continue
        except OSError:
            if created:  # no half copy that a later run would keep as the user's
                destination.unlink()
            raise
        copied.append(notebook.name)
    return copied, kept


def _jupyter_lab_command(folder: Path, notebook: Path, extra: list[str]) -> list[str]:
    """``jupyter lab`` serving ``folder`` and opening ``notebook``, with the user's ``extra`` arguments."""
    command = [
        sys.executable, "-m", "jupyter", "lab", f"--ServerApp.root_dir={folder}", str(notebook), *extra
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0 and "--allow-root" not in extra:
        command.append("--allow-root")
    return command


def _run_until_stopped(command: list[str], env: dict[str, str] | None = None) -> int:
    """Run JupyterLab's ``command`` and wait for it; stopping this process stops JupyterLab too.

    The child runs in a session of its own, so a terminal's Ctrl-C reaches this process
    only; SIGINT or SIGTERM is passed on as SIGTERM, on which JupyterLab shuts its kernels
    down, removes its server files and exits, without the "Shut down this Jupyter server
    (y/[n])?" question a SIGINT asks. A child still running ``_STOP_TIMEOUT_S`` after the
    first signal is killed. The child is always waited for, so none is left behind,
    orphaned or as a zombie. A signal this process ignores (as in a background job) stays
    ignored.

    Parameters
    ----------
    command : list of str
        The ``jupyter lab`` command.
    env : dict, optional
        The child's environment (default: this process's).

    Returns
    -------
    int
        The child's exit status, or 128 + the number of the first signal received.
    """
    received: list[int] = []
    running: list[subprocess.Popen[bytes]] = []  # the child, once started
    timers: list[threading.Timer] = []

    def stop(child: subprocess.Popen[bytes]) -> None:
        child.send_signal(signal.SIGTERM)
        if not timers:
            timers.append(threading.Timer(_STOP_TIMEOUT_S, _kill, (child,)))
            timers[0].start()

    def on_signal(signum: int, _frame: object) -> None:
        received.append(signum)
        for child in running:  # none yet: the signal is passed on once the child has started
            stop(child)

    previous = {
        sig: signal.signal(sig, on_signal)
        for sig in _STOP_SIGNALS
        if signal.getsignal(sig) is not signal.SIG_IGN
    }
    try:
        child = subprocess.Popen(command, env=env, start_new_session=True)
        running.append(child)
        if received:
            stop(child)
        status = child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for timer in timers:
            timer.cancel()
    return 128 + received[0] if received else status


def _kill(child: subprocess.Popen[bytes]) -> None:
    """Kill a JupyterLab that outlived its stop timeout, saying so."""
    print(f"JupyterLab did not stop within {_STOP_TIMEOUT_S:g} s of the signal; killing it", file=sys.stderr)
    child.kill()


def _has_module(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def _count(option: str, what: str | Constraint) -> Callable[[str], int]:
    """A parser of ``option``'s value as an integer: a positive one (``what`` it counts), or
    one that ``what``, the declared constraint of the argument it becomes, accepts; raising
    argparse's one-line error otherwise."""
    constraint = Interval(int, 1, meaning=what) if isinstance(what, str) else what

    def parse(text: str) -> int:
        try:
            return check(option, int(text), constraint)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error) if option in str(error) else f"not a whole number: {text!r}") from None

    return parse


_draws = _count("--draws", "random sets per importance test")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="innersight", description="innersight_widgets from the command line")
    commands = parser.add_subparsers(dest="command", required=True)
    demo_parser = commands.add_parser("demo", help="analyse a shipped demo model headless and print a summary")
    demo_parser.add_argument("--model", default=DEFAULT_MODEL, choices=list(DEMO_MODELS))
    demo_parser.add_argument("--device", default=None, help="cpu, cuda, ... (default: CUDA when present)")
    demo_parser.add_argument("--cache-dir", default=None, help="cache the pass in this folder")
    demo_parser.add_argument("--draws", type=_draws, default=20, help="random neuron sets per importance test")
    demo_parser.add_argument(
        "--images", type=_count("--images", "probe images per importance test"), default=None,
        help="probe images each importance test runs on (default: all)",
    )
    lab_parser = commands.add_parser(
        "lab",
        help="copy the notebooks into a working folder and open the quickstart in JupyterLab "
        "(other arguments go to jupyter lab)",
        allow_abbrev=False,  # so that no jupyter lab option is taken for an abbreviation of --dir
    )
    lab_parser.add_argument(
        "--dir", type=Path, default=NOTEBOOKS_DIR, help=f"the working folder (default: ./{NOTEBOOKS_DIR})"
    )
    report_parser = commands.add_parser(
        "report", help="write a self-contained HTML report of a shipped model's communities (opens offline)"
    )
    source = report_parser.add_mutually_exclusive_group()
    source.add_argument("--model", choices=list(DEMO_MODELS), help=f"a shipped model (default: {DEFAULT_MODEL})")
    source.add_argument(
        "--analysis-cache", metavar="DIR",
        help="report the analysis cached in DIR (by --cache-dir of a shipped model) without a forward pass",
    )
    report_parser.add_argument("--out", type=Path, required=True, help="the HTML file to write")
    report_parser.add_argument(
        "--layer", action="append", dest="layers", help="a layer to report (repeat for several; default: a mid block)"
    )
    report_parser.add_argument("--device", default=None, help="cpu, cuda, ... (default: CUDA when present)")
    report_parser.add_argument("--cache-dir", default=None, help="cache the pass in this folder")
    report_parser.add_argument("--draws", type=_draws, default=20, help="random neuron sets per importance test")
    report_parser.add_argument(
        "--images", type=_count("--images", "probe images per importance test"), default=None,
        help="probe images each importance test runs on (default: all)",
    )
    report_parser.add_argument(
        "--top-images", type=_count("--top-images", "images shown per community"), default=8,
        help="images shown per community",
    )
    report_parser.add_argument(
        "--visualise", action="store_true",
        help="also show what each community looks for: images optimised to raise its score (runs the model)",
    )
    pre = commands.add_parser(
        "precompute",
        help="run the pass of a model over an image folder into a cache, on every process of a torchrun or "
        "srun job (open it later anywhere with Analysis(..., cache_dir=DIR))",
    )
    pre.add_argument("--model", required=True, help="a shipped model's name, or MODULE:FACTORY returning the model")
    pre.add_argument("--data", required=True, metavar="FOLDER", help="a folder with one sub-folder of images per class")
    pre.add_argument("--layers", nargs="+", default=None, help="layers to analyse (default: every conv and linear layer)")
    pre.add_argument("--cache-dir", required=True, metavar="DIR", help="the folder rank 0 writes the cache entry to")
    pre.add_argument("--size", type=_count("--size", ImageFolder.constraints["size"]), default=None,
                     help="square side the images are cropped to (default 224; a shipped model's own)")
    pre.add_argument("--resize", type=_count("--resize", ImageFolder.constraints["resize"]), default=None,
                     help="shorter side before the centre crop (default size*256/224; a shipped model's: size)")
    pre.add_argument("--normalise", action=argparse.BooleanOptionalAction, default=None,
                     help="normalise with ImageNet's mean and std (default: yes; no for a shipped model)")
    pre.add_argument("--classes", metavar="FILE", default=None,
                     help="class names in the model's output order, one per line (default: sorted folder names)")
    pre.add_argument("--batch-size", type=_count("--batch-size", ModelRunner.constraints["batch_size"]), default=256)
    pre.add_argument("--pooling", choices=Probe.constraints["pooling"].values, default="mean")
    pre.add_argument("--precision", choices=ModelRunner.constraints["precision"].values, default="fp32")
    pre.add_argument("--profiles-dtype", choices=Probe.constraints["profiles_dtype"].values, default="float32")
    pre.add_argument("--device", default=None, help="default: this process's GPU (LOCAL_RANK) if any, else cpu")
    pre.add_argument("--workers", type=_count("--workers", ImageFolder.constraints["num_workers"]), default=0,
                     help="image-decoding processes per rank")
    pre.add_argument("--timeout", type=_count("--timeout", "seconds"), default=_JOB_TIMEOUT_S,
                     help=f"seconds a rank waits for the others before it stops with an error (default {_JOB_TIMEOUT_S})")
    args, extra = parser.parse_known_args(argv)
    if args.command == "lab":
        return lab(extra, args.dir)
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        if args.command == "report":
            model = None if args.analysis_cache else args.model or DEFAULT_MODEL
            path = report(model, args.out, args.layers, args.device, args.cache_dir, args.draws, args.images,
                          args.top_images, args.analysis_cache, args.visualise)
            print(f"wrote {path} ({path.stat().st_size:,} bytes): open it in a browser, no network needed")
        elif args.command == "precompute":
            precompute(args.model, args.data, args.layers, args.cache_dir, size=args.size, resize=args.resize,
                       normalise=args.normalise, classes=args.classes, batch_size=args.batch_size,
                       pooling=args.pooling, precision=args.precision, profiles_dtype=args.profiles_dtype,
                       device=args.device, workers=args.workers, timeout_s=args.timeout)
        else:
            demo(args.model, args.device, args.cache_dir, args.draws, args.images)
    except (ValueError, TypeError, FileNotFoundError, NotADirectoryError) as error:
        # what the user gave is wrong: the message says how; no traceback
        print(f"{parser.prog} {args.command}: error: {error}", file=sys.stderr)
        return 2
    except RankFailed as error:  # another process of the job said what went wrong
        print(f"{parser.prog} {args.command}: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
