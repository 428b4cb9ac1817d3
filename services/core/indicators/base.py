"""The interface every streaming indicator declares.

An indicator takes one value per bar in ``update`` and answers in O(1).  Its
state survives a restart: ``to_state`` captures it with plain JSON types
(it is stored in PostgreSQL's ``symbol_state``, README "Processing
guarantees"), and ``load_state`` of that on a new instance with the same
parameters continues bit-identically.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

__all__ = ["Indicator", "require_keys"]


class Indicator(ABC):
    __slots__ = ()  # the indicators keep their state in slots: no per-instance dict on the hot path

    @abstractmethod
    def update(self, x: float) -> float | None:
        """Feed the next value; return the indicator's value for it, or ``None`` while warming up."""

    @abstractmethod
    def to_state(self) -> dict[str, Any]:
        """The complete state as plain JSON types (dict/list/float/int/None)."""

    @abstractmethod
    def load_state(self, state: dict[str, Any]) -> None:
        """Continue from ``to_state()`` output; ``ValueError`` if parts are missing."""


def require_keys(state: dict[str, Any], keys: tuple[str, ...], what: str) -> None:
    """Refuse a saved state that lacks parts, naming them, before anything is overwritten."""
    missing = [k for k in keys if k not in state]
    if missing:
        raise ValueError(f"{what} state lacks {missing}")
