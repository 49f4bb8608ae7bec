"""Streaming pass vs a plain forward pass over the same images, in the same run.

    python benchmarks/bench_streaming_pass.py [--model shapes-cnn|shapes-vit] [--images 4000]
        [--repeats 7] [--device cpu]

Selects every conv layer of shapes-cnn (or, of shapes-vit, every block's output and MLP
hidden layer: token layers whose profiles pool the patch tokens), times the pass (hooks
reducing each layer on the device) against ``model(x)`` over the same batches, and
reports the median time ratio. Peak memory is measured in two fresh child processes (one per mode): resident
set size on the CPU, ``torch.cuda.max_memory_allocated`` on CUDA.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

import torch

from innersight_widgets import Analysis, load_pretrained, load_shapes
from innersight_widgets.engine._device import resolve_device


def measured_layers(model: torch.nn.Module) -> list[str]:
    """A CNN's conv layers; a vision transformer's blocks and their MLP hidden layers."""
    convs = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Conv2d)]
    blocks = [n for n, _ in model.named_modules() if n.startswith("blocks.") and n.count(".") <= 1 and n != "blocks"]
    hidden = [n for n, _ in model.named_modules() if n.endswith(".fc1")]
    return [*blocks, *hidden] if blocks else convs


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def plain_forward(model: torch.nn.Module, images: torch.Tensor, device: torch.device, batch_size: int) -> None:
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            model(images[start : start + batch_size].to(device, non_blocking=True))
    sync(device)


def streaming_pass(model: torch.nn.Module, data, device: torch.device, batch_size: int) -> Analysis:
    an = Analysis(model, data, layers=measured_layers(model), device=device, batch_size=batch_size, progress=False)
    an.predictions  # runs the pass
    sync(device)
    return an


def run_once(mode: str, name: str, n: int, device_name: str | None, batch_size: int) -> dict:
    """One mode in this process, for a clean peak-memory reading."""
    device = resolve_device(device_name)
    model = load_pretrained(name).to(device)
    data = load_shapes("test", n=n)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if mode == "forward":
        plain_forward(model, data.images, device, batch_size)
    else:
        streaming_pass(model, data, device, batch_size)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak = {"peak_rss_mib": after / 1024, "rss_growth_mib": (after - before) / 1024}
    if device.type == "cuda":
        peak["cuda_peak_mib"] = torch.cuda.max_memory_allocated() / 2**20
    return peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["shapes-cnn", "shapes-vit"], default="shapes-cnn")
    parser.add_argument("--images", type=int, default=4000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--device", default=None)
    parser.add_argument("--child", choices=["forward", "pass"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_once(args.child, args.model, args.images, args.device, args.batch_size)))
        return

    device = resolve_device(args.device)
    model = load_pretrained(args.model).to(device)
    data = load_shapes("test", n=args.images)
    layers = measured_layers(model)
    plain_forward(model, data.images, device, args.batch_size)  # warm-up
    an = streaming_pass(model, data, device, args.batch_size)
    forward_times, pass_times = [], []
    for _ in range(args.repeats):  # interleaved so drift hits both alike
        t = time.perf_counter()
        plain_forward(model, data.images, device, args.batch_size)
        forward_times.append(time.perf_counter() - t)
        t = time.perf_counter()
        streaming_pass(model, data, device, args.batch_size)
        pass_times.append(time.perf_counter() - t)

    memory = {}
    for mode in ("forward", "pass"):
        cmd = [sys.executable, __file__, "--child", mode, "--model", args.model, "--images", str(args.images),
               "--batch-size", str(args.batch_size)] + (["--device", args.device] if args.device else [])
        memory[mode] = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)

    fwd, pss = statistics.median(forward_times), statistics.median(pass_times)
    result = {
        "model": args.model,
        "device": str(device),
        "torch_threads": torch.get_num_threads(),
        "images": args.images,
        "layers": len(layers),
        "neurons": sum(an.layer_info(layer).num_neurons for layer in layers),
        "forward_median_s": round(fwd, 4),
        "pass_median_s": round(pss, 4),
        "ratio_pass_over_forward": round(pss / fwd, 3),
        "images_per_s_pass": round(args.images / pss),
        "memory": memory,
        "peak_memory_ratio": round(memory["pass"]["peak_rss_mib"] / memory["forward"]["peak_rss_mib"], 3),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
