"""Knockoff selection: time of one run at p = 64, 256, 1,024 with n = 10,000, re-thresholding, and FDR/power.

    python benchmarks/bench_knockoffs.py [--sizes 64 256 1024] [--n 10000] [--reps 100]

Times one knockoff run (Ledoit-Wolf, equicorrelated knockoffs, LassoCV on [X, X~]) on
AR(1) 0.5 data against the cost of re-thresholding its W at a new q (the FDR slider).
Then the full FDR simulation of the issue: n = 500, p = 200, 30 signals of amplitude
0.25, q = 0.1, over --reps repetitions: mean false-discovery proportion and power, and
the share of global-null repetitions that select anything.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import numpy as np

from innersight_widgets.neucept.knockoffs import knockoff_run, knockoff_threshold, select


def ar1(n: int, p: int, rho: float, rng: np.random.Generator) -> np.ndarray:
    x = np.empty((n, p))
    x[:, 0] = rng.standard_normal(n)
    for j in range(1, p):  # AR(1) columns without a p x p Cholesky
        x[:, j] = rho * x[:, j - 1] + np.sqrt(1 - rho**2) * rng.standard_normal(n)
    return x


def simulate(seed: int, signals: int, n: int = 500, p: int = 200, amplitude: float = 0.25):
    rng = np.random.default_rng(seed)
    x = ar1(n, p, 0.5, rng)
    beta = np.zeros(p)
    truth = rng.choice(p, signals, replace=False)
    beta[truth] = amplitude * rng.choice([-1, 1], signals)
    return x, x @ beta + rng.standard_normal(n), set(truth.tolist()), rng


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 256, 1024])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--reps", type=int, default=100)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    for p in args.sizes:
        rng = np.random.default_rng(p)
        x = ar1(args.n, p, 0.5, rng)
        y = x[:, : max(1, p // 10)].sum(1) * 0.25 + rng.standard_normal(args.n)
        t = time.perf_counter()
        run = knockoff_run(x, y, rng)
        fit = time.perf_counter() - t
        t = time.perf_counter()
        for q in np.linspace(0.05, 0.3, 100):
            knockoff_threshold(run.w, float(q))
        rethreshold = (time.perf_counter() - t) / 100
        print(json.dumps({"p": p, "n": args.n, "run_s": round(fit, 2), "rethreshold_ms": round(rethreshold * 1000, 3),
                          "ratio": round(fit / rethreshold)}), flush=True)
    fdp, power, null_any = [], [], 0
    for seed in range(args.reps):
        x, y, truth, rng = simulate(seed, 30)
        chosen = set(select(knockoff_run(x, y, rng).w, 0.1).tolist())
        fdp.append(len(chosen - truth) / max(1, len(chosen)))
        power.append(len(chosen & truth) / len(truth))
        x, y, _, rng = simulate(10_000 + seed, 0)
        null_any += select(knockoff_run(x, y, rng).w, 0.1).size > 0
    print(json.dumps({"reps": args.reps, "mean_fdp": round(float(np.mean(fdp)), 4), "power": round(float(np.mean(power)), 4),
                      "null_runs_selecting": null_any / args.reps}))


if __name__ == "__main__":
    main()
