"""Share one expensive read among concurrent callers without serving any of them an answer older than its call."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
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


class AsyncCoalescer(Generic[T]):
    """:class:`Coalescer` for coroutines of one event loop: waiting callers cost no thread, only a future.

    A caller arriving while an execution is under way is served by the next one, which starts after it
    arrived, together with every other caller that arrived meanwhile: each result is at least as fresh as
    the call. The state belongs to the event loop that first uses it and is started afresh on another loop
    (a test client's loop, a restarted server's).

    :param func: the coroutine function to share; called without arguments.
    """

    def __init__(self, func: Callable[[], Awaitable[T]]) -> None:
        self._func = func
        self._loop: asyncio.AbstractEventLoop | None = None
        self._running = False
        self._task: asyncio.Task[None] | None = None
        # Future of the execution that the callers arriving now will get; created by the first of them.
        self._next: asyncio.Future[T] | None = None

    async def __call__(self) -> T:
        """The result of an execution that started after this call."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop, self._running, self._next, self._task = loop, False, None, None
        if self._next is None:
            self._next = loop.create_future()
        future = self._next
        if not self._running:
            self._running = True
            # Referenced until it ends: the loop keeps only weak references to its tasks.
            self._task = loop.create_task(self._drain())
        # shield: a caller that gives up (client gone) must not cancel the execution the others wait for.
        return await asyncio.shield(future)

    async def _drain(self) -> None:
        future: asyncio.Future[T] | None = None
        try:
            while self._next is not None:
                future, self._next = self._next, None
                try:
                    result = await self._func()
                except Exception as exc:  # handed to every caller of this execution
                    future.set_exception(exc)
                    # Marked retrieved: a wave whose callers all left must not log "exception never retrieved".
                    future.exception()
                else:
                    future.set_result(result)
        finally:
            self._running = False
            self._task = None
            # Cancelled (the loop is shutting down): nobody must wait for an execution that will not come.
            for pending in (future, self._next):
                if pending is not None and not pending.done():
                    pending.cancel()
            self._next = None
