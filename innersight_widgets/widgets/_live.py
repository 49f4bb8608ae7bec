"""The live runner every widget computes through: one worker, newest request wins, results
applied on the kernel's thread, one status line that never goes back in time.

- ``submit`` numbers each request (one counter per widget). A newer request on the same
  channel, or one that names the channel in ``cancels``, makes the older one stale: it is
  skipped before it starts, asked to stop between batches (``job.stale``), and its result
  is dropped.
- One worker thread runs requests in order, a request that asks for it after ``debounce``
  seconds of quiet.
- ``apply`` (and ``job.post``) run on the kernel's thread: the asyncio loop that was running
  when the widget was made, so trait changes never interleave with the front end's
  messages. Without a running loop (a script, a test) they run on the worker under a lock.
- The status line is derived, not written: busy while a current request is unfinished
  (the newest one's words), otherwise the outcome of the newest finished request, which
  ``apply`` returns (or its error). An older request's message never replaces a newer one.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from functools import partial
from typing import Any

from .._validation import Interval, check
from ..engine import Cancelled
from ._status import StatusLine

#: Seconds of quiet a debounced request waits for: every widget's ``debounce`` argument.
DEBOUNCE = Interval(float, 0, unit="seconds", meaning="0: no waiting")


class Job:
    """One request: its channel and generation, and what its computation may tell the widget."""

    def __init__(self, runner: LiveRunner, channel: str, generation: int, busy: str) -> None:
        self.channel, self.generation, self.busy = channel, generation, busy
        self._runner = runner

    def stale(self) -> bool:
        """True once a newer request replaced this one: stop working, the result is not wanted."""
        return self._runner.latest(self.channel) != self.generation

    def say(self, text: str) -> None:
        """Replace the busy text (progress); shown while this request is the newest unfinished one."""
        self.busy = text
        self._runner.on_kernel(self._runner.render)

    def post(self, apply: Callable[..., Any], *args: Any) -> None:
        """Run ``apply(*args)`` on the kernel's thread if this request is still current then
        (a partial result of a long computation)."""
        self._runner.on_kernel(lambda: None if self.stale() else apply(*args))


class LiveRunner:
    """Runs a widget's computations off the kernel's thread and applies their results on it.

    Parameters
    ----------
    status : StatusLine
        The widget's status line, which this runner alone writes.
    debounce : float
        Seconds of quiet a debounced request waits for before it starts (0: none).
    """

    def __init__(self, status: StatusLine, debounce: float = 0.15) -> None:
        self.debounce = check("debounce", debounce, DEBOUNCE)
        self.status = status
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="innersight")
        self._lock = threading.RLock()
        self._latest: dict[str, int] = {}
        self._counter = 0
        self._open: dict[int, Job] = {}
        self._outcome: tuple[int, str, str] | None = None
        self._futures: list[Future] = []
        self._ready: deque[Callable[[], None]] = deque()
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
            self._loop_thread = threading.get_ident()
        except RuntimeError:
            self._loop, self._loop_thread = None, None

    # ------------------------------------------------------------ requests
    def submit(
        self,
        channel: str,
        busy: str,
        compute: Callable[[Job], Any],
        apply: Callable[[Any], str | None],
        *,
        cancels: Iterable[str] = (),
        debounce: bool = True,
        on_error: Callable[[], None] | None = None,
    ) -> Job:
        """Queue ``compute(job)`` for the worker, then ``apply(result)`` on the kernel's thread.

        Parameters
        ----------
        channel : str
            What the request is for ("partition", "details", ...); a newer request on the
            same channel replaces this one.
        busy : str
            The status while it runs.
        compute : callable
            The work, given the :class:`Job`; it should pass ``job.stale`` to the core as
            ``should_stop`` (the core then raises ``Cancelled`` between batches).
        apply : callable
            Shows the result; returns the status message to show when nothing newer is busy
            (None: leave the status to the other requests).
        cancels : iterable of str
            Other channels whose pending requests this one makes stale.
        debounce : bool
            Wait for ``debounce`` seconds of quiet first (slider moves; not for clicks).
        on_error : callable, optional
            Clears what the failed request would have replaced, so that the view never
            shows an old result under new controls.

        Returns
        -------
        Job
            The request, with its generation number.
        """
        with self._lock:
            self._counter += 1
            job = Job(self, channel, self._counter, busy)
            for name in (channel, *cancels):
                self._latest[name] = job.generation
            self._open[job.generation] = job
            self._futures = [f for f in self._futures if not f.done()]
            self._futures.append(self._executor.submit(self._run, job, compute, apply, debounce, on_error))
        self.on_kernel(self.render)
        return job

    def announce(self, kind: str, text: str) -> None:
        """An outcome that needs no computation (a refused click, a missing layer)."""
        with self._lock:
            self._counter += 1
            self._outcome = (self._counter, kind, text)
        self.on_kernel(self.render)

    def cancel(self, *channels: str) -> None:
        """Make the pending requests on ``channels`` stale: their results are never shown
        (the core stops them at its next ``should_stop`` check)."""
        with self._lock:
            self._counter += 1
            for name in channels:
                self._latest[name] = self._counter
        self.on_kernel(self.render)

    def latest(self, channel: str) -> int:
        """The generation of the newest request on ``channel`` (0: none yet)."""
        return self._latest.get(channel, 0)

    def pending(self, channel: str) -> bool:
        """Whether the newest request on ``channel`` has not finished yet."""
        with self._lock:
            return self.latest(channel) in self._open

    def _run(
        self,
        job: Job,
        compute: Callable[[Job], Any],
        apply: Callable[[Any], str | None],
        debounce: bool,
        on_error: Callable[[], None] | None,
    ) -> None:
        if not job.stale() and debounce and self.debounce:
            time.sleep(self.debounce)
        finish: Callable[[], str | None] | None = None
        if not job.stale():
            try:
                finish = partial(apply, compute(job))
            except Cancelled:
                pass  # a newer request replaced it: nothing to show
            except BaseException as exc:  # noqa: BLE001 - shown in the status line by _settle
                finish = partial(self._fail, exc, on_error)
        self.on_kernel(partial(self._settle, job, finish))

    def _fail(self, exc: BaseException, on_error: Callable[[], None] | None) -> None:
        if on_error is not None:
            on_error()
        raise exc

    def _settle(self, job: Job, finish: Callable[[], str | None] | None) -> None:
        """On the kernel's thread: apply a current job's result (or error) and close it."""
        try:
            if finish is not None and not job.stale():
                try:
                    message = finish()
                except BaseException as exc:  # noqa: BLE001 - shown, and kept in last_error
                    self.status.last_error = exc
                    self._outcome = (job.generation, "error", f"error: {type(exc).__name__}: {exc}")
                else:
                    if message is not None:
                        self._outcome = (job.generation, "idle", message)
        finally:
            with self._lock:
                self._open.pop(job.generation, None)
            self.render()

    # -------------------------------------------------------------- status
    def render(self) -> None:
        """Busy with the newest current request, else the newest outcome (kernel's thread)."""
        with self._lock:
            current = [job for job in self._open.values() if not job.stale()]
            outcome = self._outcome
        if current:
            self.status.show("busy", max(current, key=lambda job: job.generation).busy)
        elif outcome is not None:
            self.status.show(outcome[1], outcome[2])

    # ------------------------------------------------------ kernel's thread
    def on_kernel(self, apply: Callable[[], None]) -> None:
        """Run ``apply`` on the kernel's thread (now, if this is it)."""
        if self._loop is None or self._loop.is_closed():
            with self._lock:
                apply()
            return
        if threading.get_ident() == self._loop_thread:
            self._drain()
            apply()
            return
        with self._lock:
            self._ready.append(apply)
        self._loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        while True:
            with self._lock:
                if not self._ready:
                    return
                apply = self._ready.popleft()
            apply()

    def wait(self, timeout: float = 120.0) -> None:
        """Block until every request has finished and been applied (scripts and tests).

        On the kernel's thread the results are applied here, since the loop cannot run
        while a cell waits.
        """
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                pending = [f for f in self._futures if not f.done()]
            if pending:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"the widget is still computing after {timeout:.0f} s")
                wait_for(pending, timeout=remaining)
                continue
            if self._loop is not None and threading.get_ident() == self._loop_thread:
                self._drain()
            with self._lock:
                if not self._ready and not any(not f.done() for f in self._futures):
                    return
            if time.monotonic() > deadline:
                raise TimeoutError(f"the widget's results were not applied within {timeout:.0f} s")
            time.sleep(0.01)
