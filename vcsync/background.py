"""A function run in a thread while the caller goes on: waiting on git releases the GIL,
so listing a base ref overlaps reading and parsing the scripts."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar, cast

T = TypeVar("T")


class Background(Generic[T]):
    """result() waits for the function and returns its value or raises what it raised."""

    def __init__(self, function: Callable[[], T]) -> None:
        self._function = function
        self._outcome: tuple[T | None, BaseException | None] = (None, None)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._outcome = (self._function(), None)
        except BaseException as exc:  # handed to the caller of result()
            self._outcome = (None, exc)

    def result(self) -> T:
        self._thread.join()
        value, error = self._outcome
        if error is not None:
            raise error
        return cast(T, value)
