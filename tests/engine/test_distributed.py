"""Sharded passes under torch.distributed: 2 and 3 gloo processes on the CPU hold exactly
what one process computes, uneven and empty shares included; a failing, dead or silent
rank stops every rank instead of hanging (tests/_sharded.py is one process of a job)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from _sharded import BATCH, FEW, FEW_BATCH, IMAGES, TIMEOUT_S, results

from innersight_widgets.engine import _distributed

WORKER = Path(__file__).parents[1] / "_sharded.py"


def run_job(scenario: str, world: int, folder: Path, wait_s: float = 120) -> tuple[dict[int, object], float]:
    """Start ``world`` processes of ``scenario``; per rank its saved arrays or its error text,
    and the seconds until every process had exited (those still running are killed)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    started = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), scenario, str(rank), str(world), str(folder / "store"), str(folder)], env=env
        )
        for rank in range(world)
    ]
    deadline = started + wait_s
    for rank, proc in enumerate(procs):
        try:  # once rank 0 is done, the others get a few seconds to finish (a silent rank never does)
            proc.wait(timeout=max(0.1, deadline - time.perf_counter()) if rank == 0 else 5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    elapsed = time.perf_counter() - started
    found: dict[int, object] = {}
    for rank in range(world):
        saved, error = folder / f"rank{rank}.npz", folder / f"rank{rank}.err"
        found[rank] = dict(np.load(saved)) if saved.exists() else error.read_text() if error.exists() else None
    return found, elapsed


@pytest.fixture(scope="module")
def single() -> dict[str, np.ndarray]:
    return results("all")


@pytest.mark.parametrize("world", [2, 3])
def test_every_rank_holds_exactly_what_one_process_computes(world: int, tmp_path: Path, single: dict) -> None:
    found, _ = run_job("all", world, tmp_path)
    for rank, got in found.items():
        assert isinstance(got, dict), f"rank {rank} of {world} stopped: {got}"
        assert set(got) == set(single)
        differ = [name for name in single if not np.array_equal(got[name], single[name])]
        assert not differ, f"rank {rank} of {world} differs from one process in {differ}"


def test_the_job_covers_uneven_and_empty_shares() -> None:
    """What the job test runs on: 5 batches over 2 or 3 processes, and 2 batches over 3
    (one process without an image); every row in exactly one share, whole batches only."""
    assert [_shares(IMAGES, BATCH, w) for w in (2, 3)] == [[192, 108], [128, 128, 44]]
    assert _shares(FEW, FEW_BATCH, 3) == [32, 8, 0]


@pytest.mark.parametrize("total", [0, 1, 7, 64, 300, 1001])
@pytest.mark.parametrize("unit", [1, 5, 64])
@pytest.mark.parametrize("world", [1, 2, 3, 8])
def test_shares_are_contiguous_whole_units_covering_every_row_once(total: int, unit: int, world: int) -> None:
    parts = _parts(total, unit, world)
    assert [row for part in parts for row in range(part.start, part.stop)] == list(range(total))
    assert all(part.start % unit == 0 or part.start == total for part in parts), "shares start on a unit boundary"
    units = [-(-(part.stop - part.start) // unit) for part in parts]
    assert max(units) - min(units) <= 1, "units are spread evenly"


def test_a_rank_that_raises_stops_every_rank_with_its_error(tmp_path: Path) -> None:
    found, elapsed = run_job("fails", 2, tmp_path)
    assert "ValueError: probe image(s) 290 hold NaN" in found[1]
    assert "RankFailed: rank 1 of 2 failed, so every rank stops; it said: ValueError: probe image(s) 290" in found[0]
    assert elapsed < TIMEOUT_S["fails"], "the others learnt of the error at once, not at the timeout"


@pytest.mark.parametrize("scenario", ["dies", "stalls"])
def test_a_dead_or_silent_rank_stops_the_others(scenario: str, tmp_path: Path) -> None:
    """A rank killed outright breaks the connection; one that stays silent is waited for
    until the process group's timeout (5 s here): the others stop with an error, no hang."""
    found, _ = run_job(scenario, 2, tmp_path, wait_s=TIMEOUT_S[scenario] + 40)
    assert isinstance(found[0], str), f"rank 0 did not stop with an error: {found[0]}"
    assert "Connection closed by peer" in found[0] if scenario == "dies" else "Timed out" in found[0]


def _shares(total: int, unit: int, world: int) -> list[int]:
    return [part.stop - part.start for part in _parts(total, unit, world)]


def _parts(total: int, unit: int, world: int) -> list[slice]:
    """Each rank's share, as ``_distributed.share`` gives it on that rank of ``world``."""
    parts = []
    for rank in range(world):
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(_distributed, "world", lambda rank=rank: (rank, world))
            parts.append(_distributed.share(total, unit))
    return parts
