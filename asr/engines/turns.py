"""The model's lock, taken in the order callers asked for it.

Several jobs share one loaded model (two browser tabs, the page and its API, eight API clients): each engine
call holds the model for one batch. With a plain `threading.Lock`, the thread that has just released it
usually takes it back before a waiting thread wakes, so a long file would keep a short request waiting for
its whole length. `Turns` hands the model to whoever has waited longest: a job that calls again at once
queues behind the calls already waiting, so jobs take turns a batch at a time.
"""

from __future__ import annotations

import threading
from collections import deque
from types import TracebackType


class Turns:
    """A non-reentrant lock that serves its waiters first come, first served; use it as a `with` block."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._waiting: deque[threading.Event] = deque()
        self._held = False

    def __enter__(self) -> Turns:
        with self._guard:
            if not self._held:
                self._held = True
                return self
            turn = threading.Event()
            self._waiting.append(turn)
        try:
            turn.wait()
        except BaseException:  # interrupted while waiting: leave the queue, or pass on a turn just given
            with self._guard:
                queued = turn in self._waiting
                if queued:
                    self._waiting.remove(turn)
            if not queued:
                self._release()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._release()

    def _release(self) -> None:
        with self._guard:
            if self._waiting:
                self._waiting.popleft().set()  # still held: handed straight to the longest waiter
            else:
                self._held = False
