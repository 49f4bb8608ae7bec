"""The streaming pass and a batched ablation on 1 and on N processes of a torch.distributed
job over the same image folder: speed-up, the time spent combining the shares, and a check
that every job computed the same arrays.

What users run: a ResNet-50 (random weights, seed 0; see bench_real_scale.py) over 224 px
JPEGs decoded from a folder with the ImageNet recipe, layer4's convolutions selected
(8,192 neurons); then 4 random sets of 64 neurons of layer4.2.conv3 ablated on 128 images
(an importance test's null draws). Each process gets 1 compute thread (gloo on the CPU),
so 2 processes use the 2 cores of a small machine.

    OMP_NUM_THREADS=1 python benchmarks/bench_distributed.py                  # 1 vs 2 processes, CPU
    python benchmarks/bench_distributed.py --device cuda --precision bf16     # NCCL, one process per GPU

Each job is a fresh set of processes (this script with --child); figures are wall times of
rank 0 between barriers, medians of --repeats runs within one job.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from bench_real_scale import MODEL_SOURCE, build_model, prepare_folder

from innersight_widgets import Analysis, load_image_folder
from innersight_widgets.engine import _distributed

LAYERS = ["layer4.0.downsample.0", "layer4.0.conv3", "layer4.1.conv3", "layer4.2.conv3"]
ABLATED, SETS, SET_SIZE, ABLATION_IMAGES = "layer4.2.conv3", 4, 64, 128


def child(args: argparse.Namespace) -> None:
    """One rank: the pass and the ablation, timed; rank 0 writes the figures to --out."""
    torch.set_num_threads(args.threads)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    device = torch.device(args.device if args.device != "cuda" else f"cuda:{rank}")
    if world > 1:
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    # the benchmark's own probes: time waiting for the slowest rank to finish its share
    # (and learning that no rank failed), and time moving the shares between processes
    timing = {"wait": 0.0, "transfer": 0.0, "waiting": False}
    plain_combine, plain_stop = _distributed.combine, _distributed._stop_if_failed

    def timed_stop(error: BaseException | None) -> None:
        start, timing["waiting"] = time.perf_counter(), True
        try:
            plain_stop(error)
        finally:
            timing["waiting"] = False
            timing["wait"] += time.perf_counter() - start

    def timed_combine(array: np.ndarray) -> None:
        if timing["waiting"]:  # the failure flags, part of the wait
            plain_combine(array)
            return
        start = time.perf_counter()
        plain_combine(array)
        timing["transfer"] += time.perf_counter() - start

    _distributed.combine, _distributed._stop_if_failed = timed_combine, timed_stop
    model = build_model(device)
    # the folder holds 4 of the model's 1000 classes: they keep indices 0..3 of its outputs
    shapes = sorted(p.name for p in Path(args.folder).iterdir() if p.is_dir())
    classes = [*shapes, *(f"class {i}" for i in range(len(shapes), 1000))]
    folder = load_image_folder(args.folder, num_workers=args.workers, classes=classes)
    rng = np.random.default_rng(0)
    specs = [{ABLATED: rng.choice(2048, SET_SIZE, replace=False).tolist()} for _ in range(SETS)]
    passes, ablations, waits, transfers = [], [], [], []
    for _ in range(args.repeats):
        an = Analysis(model, folder, layers=LAYERS, device=device, batch_size=args.batch_size,
                      precision=args.precision, progress=False)
        _barrier(device)
        timing["wait"] = timing["transfer"] = 0.0
        start = time.perf_counter()
        an.profiles(LAYERS[0])
        _barrier(device)
        passes.append(time.perf_counter() - start)
        waits.append(timing["wait"])
        transfers.append(timing["transfer"])
        start = time.perf_counter()
        results = an.ablate_many(specs, images=np.arange(min(ABLATION_IMAGES, len(folder))))
        _barrier(device)
        ablations.append(time.perf_counter() - start)
    digest = hashlib.sha256(np.ascontiguousarray(an.predictions.logits).tobytes())
    for layer in LAYERS:
        digest.update(np.ascontiguousarray(an.profiles(layer)).tobytes())
    for result in results:
        digest.update(np.ascontiguousarray(result.logits_after).tobytes())
    if rank == 0:
        Path(args.out).write_text(json.dumps({
            "processes": world, "device": str(device), "images": len(folder),
            "pass_s": float(np.median(passes)), "wait_s": float(np.median(waits)), "transfer_s": float(np.median(transfers)),
            "ablation_s": float(np.median(ablations)), "digest": digest.hexdigest(),
        }))
    if world > 1:
        dist.destroy_process_group()


def _barrier(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    if dist.is_initialized():
        dist.barrier()


def job(args: argparse.Namespace, folder: Path, processes: int) -> dict:
    """Start ``processes`` ranks of this script and return rank 0's figures."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = Path(tempfile.mkdtemp()) / "figures.json"
    command = [sys.executable, __file__, "--child", "--folder", str(folder), "--out", str(out),
               "--device", args.device, "--precision", args.precision, "--batch-size", str(args.batch_size),
               "--threads", str(args.threads), "--repeats", str(args.repeats), "--workers", str(args.workers)]
    procs = [
        subprocess.Popen(command, env={**os.environ, "OMP_NUM_THREADS": str(args.threads), "RANK": str(rank),
                                       "LOCAL_RANK": str(rank), "WORLD_SIZE": str(processes),
                                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
        for rank in range(processes)
    ]
    if any(proc.wait() != 0 for proc in procs):
        raise SystemExit(f"the job of {processes} process(es) failed")
    return json.loads(out.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=256, help="JPEGs in the folder")
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2], help="job sizes; the first is the baseline")
    parser.add_argument("--device", default="cpu", help="cpu, or cuda for one process per GPU (NCCL)")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1, help="compute threads per process")
    parser.add_argument("--workers", type=int, default=0, help="image-decoding processes per rank")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "innersight-bench-folders")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    args.data_dir.mkdir(parents=True, exist_ok=True)
    folder = prepare_folder(args.data_dir, args.images)
    print(f"{MODEL_SOURCE}, random weights; {args.images} JPEGs at 224 px; layers {', '.join(LAYERS)}; "
          f"{SETS} ablations of {SET_SIZE} neurons on {ABLATION_IMAGES} images; {args.device} {args.precision}, "
          f"{args.threads} thread(s) per process, batch {args.batch_size}", flush=True)
    rows = [job(args, folder, n) for n in args.processes]
    base = rows[0]
    print(f"{'processes':>9} {'pass s':>8} {'images/s':>9} {'speed-up':>8} {'wait s':>7} {'transfer s':>10} "
          f"{'ablation s':>10} {'speed-up':>8}  same arrays as {base['processes']}")
    for row in rows:
        print(f"{row['processes']:>9} {row['pass_s']:>8.2f} {row['images'] / row['pass_s']:>9.1f} "
              f"{base['pass_s'] / row['pass_s']:>8.2f} {row['wait_s']:>7.3f} {row['transfer_s']:>10.3f} "
              f"{row['ablation_s']:>10.2f} {base['ablation_s'] / row['ablation_s']:>8.2f}  {row['digest'] == base['digest']}")
    print("wait: rank 0 waiting for the slowest share to finish; transfer: moving the shares (the gather's own cost)")


if __name__ == "__main__":
    main()
