"""Share one expensive read among concurrent callers without serving any of them an answer older than its call."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Coalescer(Generic[T]):
    """Runs ``func`` for many concurrent callers, at most one execution at a time.

    A caller arriving while an execution is under way waits for it to end and is then served by the
    *next* execution, which starts after its arrival: every caller gets a result at least as fresh as if
    it had run ``func`` itself, and under load ``func`` runs back to back once for each wave of callers
    instead of once per caller.

    :param func: the read to share; called without arguments, from the thread of one of the callers.
    """

    def __init__(self, func: Callable[[], T]) -> None:
        self._func = func
        self._cond = threading.Condition()
        self._running = False
        self._started = 0
        self._finished = 0
        self._result: T | None = None
        self._error: BaseException | None = None

    def __call__(self) -> T:
        """The result of an execution that started after this call."""
        with self._cond:
            served_by = self._started + 1
            while self._finished < served_by:
                if not self._running:
                    self._running = True
                    self._started += 1
                    generation = self._started
                    break
                self._cond.wait()
            else:
                return self._outcome()
        try:
            result, error = self._func(), None
        except BaseException as exc:  # handed to every caller of this generation
            result, error = None, exc
        with self._cond:
            self._running = False
            self._finished = generation
            self._result, self._error = result, error
            self._cond.notify_all()
            return self._outcome()

    def _outcome(self) -> T:
        if self._error is not None:
            raise self._error
        return self._result  # type: ignore[return-value]
