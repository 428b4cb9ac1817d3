"""What a symbol looks like and which symbols are accepted: one rule for ingest, the dashboard and the DAGs.

A symbol is 1 to 16 characters: upper-case letters, digits, '.', '-', and at most one '/' between two
non-empty parts, so stock tickers (`AAPL`, `BRK.B`), FX pairs (`EURUSD`) and crypto pairs (`BTC/USD`)
all fit. Kafka keys carry it as it is; in a URL it is percent-encoded like any query value.

Which symbols are accepted (README, "Real market data"): the configured list (`TICKFLOW_SYMBOLS`,
the symbols the generator simulates), plus any symbol that matches the allow-list pattern
(`TICKFLOW_SYMBOL_PATTERN`, a regular expression the whole symbol must match). A policy with neither
accepts every well-formed symbol (the processor judges records that way: ingest already decided).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

MAX_SYMBOL_LENGTH = 16
SYMBOL_FORMAT = re.compile(r"[A-Z0-9][A-Z0-9.\-]*(?:/[A-Z0-9][A-Z0-9.\-]*)?")
FORMAT_HELP = f"upper-case letters, digits, '.', '-' and at most one '/' between two parts; at most {MAX_SYMBOL_LENGTH}"


def is_well_formed(symbol: str) -> bool:
    return len(symbol) <= MAX_SYMBOL_LENGTH and SYMBOL_FORMAT.fullmatch(symbol) is not None


def compile_pattern(text: str) -> re.Pattern[str] | None:
    """The allow-list pattern of a setting (empty: none); ValueError naming the problem if it is not a regex."""
    if not text.strip():
        return None
    try:
        return re.compile(text.strip())
    except re.error as exc:
        raise ValueError(f"symbol pattern {text!r} is not a regular expression: {exc}") from None


@dataclass(frozen=True, slots=True)
class SymbolPolicy:
    """The configured symbols, and the pattern other accepted symbols must match (None: no others)."""

    listed: frozenset[str] = frozenset()
    pattern: re.Pattern[str] | None = None

    @property
    def open(self) -> bool:
        """No list and no pattern: every well-formed symbol is accepted."""
        return not self.listed and self.pattern is None

    def accepts(self, symbol: str) -> bool:
        if self.open or symbol in self.listed:
            return True
        return self.pattern is not None and self.pattern.fullmatch(symbol) is not None

    def describe(self) -> str:
        """What is accepted, for an error message."""
        parts = []
        if self.listed:
            parts.append(f"known: {', '.join(sorted(self.listed))}")
        if self.pattern is not None:
            parts.append(f"or matching {self.pattern.pattern!r}")
        return " ".join(parts) or "any well-formed symbol"
