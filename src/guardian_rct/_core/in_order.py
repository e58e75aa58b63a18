"""Results of work handed to a pool or a cluster, in the order it was handed over, with
a bounded number under way.

Both engines of the ping scoring need this: the local one checks chunks in worker
threads (:func:`guardian_rct.compliance.pings.checked_in_parallel`), the Dask one fetches
a task's quarantined rows part by part from its worker
(:mod:`guardian_rct.compliance.dask_engine`). Memory stays bounded by the window: at
most ``window`` results exist before the consumer takes the oldest.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol, TypeVar

__all__ = ["in_order"]

T = TypeVar("T")


class Pending(Protocol):
    """What :func:`in_order` needs of a future (``concurrent.futures`` or ``distributed``)."""

    def result(self) -> Any: ...  # noqa: ANN401 - whatever the work returns

    def cancel(self) -> bool: ...

    def cancelled(self) -> bool: ...

    def exception(self) -> BaseException | None: ...


def in_order(submit: Callable[[T], Pending], items: Iterable[T], window: int) -> Iterator[Any]:
    """``submit(item).result()`` for each of ``items``, in order, with at most ``window``
    submitted and not yet taken.

    An error is raised in the consumer at the item that failed. A consumer that stops
    early (or an error) cancels the work not yet started and waits for the work under way,
    so that none of it is still running, holding memory, when this returns.
    """
    pending: deque[Pending] = deque()
    try:
        for item in items:
            pending.append(submit(item))
            if len(pending) >= window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()
        for future in pending:
            if not future.cancelled():
                future.exception()  # waits
