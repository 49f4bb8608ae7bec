"""Sharding the core's heavy passes across the processes of a ``torch.distributed`` job.

When a process group is initialised (``torchrun``, SLURM, or the user's own
``init_process_group``, any backend), each pass over probe images, ablation copies or
integrated-gradient rows computes only this process's share of the rows and the shares
are then combined, so that every process ends with exactly the arrays one process would
have computed. Shares are runs of whole *units* (a batch of the single-process loop), so
each process runs the very batches a single process runs and the numbers are the same
bit for bit. Without a process group (or with one process) nothing here does anything.

Every process must make the same calls in the same order, as with any collective: a
call made on one rank only waits for the others until the process group's timeout.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.distributed as dist

# Bytes per collective when host arrays are combined, so a large array needs no second copy.
_PIECE_BYTES = 64 << 20
# Bytes of a failed rank's message that reach the other ranks.
_MESSAGE_BYTES = 2048


class RankFailed(RuntimeError):
    """Another process of the job failed during a sharded pass; this one stops too."""


def world() -> tuple[int, int]:
    """(rank, world size) of the initialised process group; (0, 1) without one."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def share(total: int, unit: int) -> slice:
    """This process's rows of ``range(total)``.

    The rows are cut into units of ``unit`` (the last may be shorter) and the units into
    one contiguous run per process, the first ``units % world`` processes taking one
    more; every row belongs to exactly one process, and a process may get none.
    """
    rank, size = world()
    units = -(-total // unit)
    per, extra = divmod(units, size)
    first = rank * per + min(rank, extra)
    count = per + (rank < extra)
    return slice(min(first * unit, total), min((first + count) * unit, total))


def sharded(total: int, unit: int, work: Callable[[slice], None], *outputs: np.ndarray) -> None:
    """Run ``work`` on this process's share of ``range(total)`` and give every process all rows.

    Parameters
    ----------
    total : int
        Rows of the computation.
    unit : int
        Rows that must stay together (the batch of the single-process loop).
    work : callable
        ``work(rows)`` writes the results of the rows in slice ``rows`` into ``outputs``
        and nothing else; a single process calls it once with all rows.
    outputs : ndarray
        Zero-filled, C-contiguous arrays the work writes into. Afterwards every process
        holds every process's rows in them.

    Raises
    ------
    RankFailed
        On the processes whose own share went well, when another one's raised; the
        failed process raises its own error. No process waits for the timeout.
    """
    if world()[1] == 1:
        work(slice(0, total))
        return
    error: BaseException | None = None
    try:
        work(share(total, unit))
    except Exception as exc:  # noqa: BLE001 - raised below, after every rank knows
        error = exc
    _stop_if_failed(error)
    for out in outputs:
        combine(out)


def combine(array: np.ndarray) -> None:
    """Give every process the values each element got on the one process that wrote it.

    Each element must be written by at most one process, the others keeping zeros; the
    bytes are then summed across processes, which reproduces every value bit for bit,
    whatever its dtype (no two processes add non-zero bytes at one place, so no sum carries).
    """
    flat = array.reshape(-1).view(np.uint8)
    device = _device()
    for start in range(0, flat.size, _PIECE_BYTES):
        piece = flat[start : start + _PIECE_BYTES]
        tensor = torch.from_numpy(piece).to(device)
        dist.all_reduce(tensor)
        if tensor.device.type != "cpu":
            piece[:] = tensor.cpu().numpy()


def total(tensor: torch.Tensor) -> torch.Tensor:
    """The sum of ``tensor`` over all processes (itself without a process group)."""
    if world()[1] == 1:
        return tensor
    moved = tensor.to(_device())
    dist.all_reduce(moved)
    return moved.to(tensor.device)


def everyone(flag: bool) -> bool:
    """Whether ``flag`` holds on every process (itself without a process group)."""
    if world()[1] == 1:
        return flag
    value = torch.tensor([int(flag)], dtype=torch.int32, device=_device())
    dist.all_reduce(value, op=dist.ReduceOp.MIN)
    return bool(value.item())


def _stop_if_failed(error: BaseException | None) -> None:
    """Tell every process which ones failed (with their messages); raise on all if any did."""
    rank, size = world()
    messages = np.zeros((size, _MESSAGE_BYTES), dtype=np.uint8)
    if error is not None:
        text = f"{type(error).__name__}: {error}".encode()[:_MESSAGE_BYTES]
        messages[rank, : len(text)] = np.frombuffer(text, dtype=np.uint8)
    combine(messages)
    failed = [r for r in range(size) if messages[r].any()]
    if error is not None:
        raise error
    if failed:
        first = failed[0]
        said = bytes(messages[first]).rstrip(b"\0").decode(errors="replace")
        others = f" (and rank {', '.join(map(str, failed[1:]))})" if len(failed) > 1 else ""
        raise RankFailed(f"rank {first}{others} of {size} failed, so every rank stops; it said: {said}")


def _device() -> torch.device:
    """Where collective tensors live: the current GPU for NCCL, else host memory."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")
