"""Live recomputation for widgets: debounced, off the UI thread, newest request wins.

Every request gets a generation number. A worker thread runs requests one at a time,
after a short quiet period; a request that is no longer the newest is skipped before
it starts and its result is dropped if a newer one arrived while it ran. Errors are
handed to ``on_error``, never swallowed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from typing import Any

from ._checks import seconds


class LiveRunner:
    def __init__(self, on_error: Callable[[str, BaseException], None], debounce: float = 0.15) -> None:
        self.debounce = seconds("debounce", debounce)
        self._on_error = on_error
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="innersight")
        self._generations: dict[str, int] = {}
        self._lock = threading.Lock()
        self._pending: list[Future] = []

    def submit(
        self, channel: str, compute: Callable[[Callable[[], bool]], Any], apply: Callable[[Any], None]
    ) -> int:
        """Run ``compute(stale)`` off the UI thread, then ``apply`` its result if it is still the
        newest request of ``channel``. ``stale()`` tells a long computation it may stop."""
        with self._lock:
            generation = self._generations.get(channel, 0) + 1
            self._generations[channel] = generation
            self._pending = [f for f in self._pending if not f.done()]
            self._pending.append(self._executor.submit(self._run, channel, generation, compute, apply))
        return generation

    def is_current(self, channel: str, generation: int) -> bool:
        return self._generations.get(channel) == generation

    def _run(
        self, channel: str, generation: int, compute: Callable[[Callable[[], bool]], Any], apply: Callable[[Any], None]
    ) -> None:
        if not self.is_current(channel, generation):
            return  # a newer request is queued: skip without waiting
        if self.debounce:
            time.sleep(self.debounce)
            if not self.is_current(channel, generation):
                return
        try:
            result = compute(lambda: not self.is_current(channel, generation))
            if self.is_current(channel, generation):
                apply(result)
        except BaseException as exc:  # noqa: BLE001 - shown to the user by on_error
            if self.is_current(channel, generation):
                self._on_error(channel, exc)

    def wait(self, timeout: float = 120.0) -> None:
        """Block until every submitted request has finished (for scripts and tests)."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                pending = [f for f in self._pending if not f.done()]
            if not pending:
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"the widget is still computing after {timeout:.0f} s")
            wait_for(pending, timeout=remaining)
