"""The processor's in-memory symbol state: one SymbolStream per symbol, loaded on first use.

A symbol's stream comes from the state the last committed batch saved for it (`symbol_state`);
a saved state that cannot be restored is rebuilt by replaying the symbol's stored base bars. The
processor forgets every stream whenever what PostgreSQL holds is the truth again (a rewind, a
failed or refused batch, revoked partitions) and loads them afresh on the next batch.
"""
from __future__ import annotations

import logging
from typing import Any

from services.core.indicators import IndicatorParams
from services.core.signals import SignalRules
from services.core.stream import SymbolStream
from services.core.symbols import is_well_formed
from services.core.timeframes import Timeframe
from services.logs import event
from services.processor.errors import DATA_ERRORS, error_text
from services.processor.metrics import ProcessorStats
from services.processor.store import BatchWriter
from services.processor.transaction import printable

log = logging.getLogger(__name__)


class SymbolStreams:
    """The streams of the symbols seen since the last `clear`, read through the batch writer.

    `load_for` loads the streams a batch needs before it is built; `stream_for` is what build_batch
    calls per message: the dict's own lookup (KeyError for a symbol not loaded), no wrapper around it.
    """

    def __init__(self, store: BatchWriter, prices_topic: str, params: IndicatorParams, rules: SignalRules,
                 timeframes: tuple[Timeframe, ...], stats: ProcessorStats) -> None:
        self._store = store
        self._prices_topic = prices_topic
        self._params = params
        self._rules = rules
        self._timeframes = timeframes
        self._stats = stats
        self._streams: dict[str, SymbolStream] = {}
        self.stream_for = self._streams.__getitem__  # the hot path; bound to the one dict, never replaced
        self.clear = self._streams.clear

    def load_for(self, messages: list[Any]) -> None:
        """Load the streams of the symbols these messages' price records are keyed by (build_batch
        dead-letters a record keyed by anything but its own symbol)."""
        keys = {m.key for m in messages if m.topic == self._prices_topic and m.key}
        self.load({symbol for symbol in (key.decode(errors="replace") for key in keys) if is_well_formed(symbol)})

    def load(self, symbols: set[str]) -> None:
        missing = symbols - self._streams.keys()
        if not missing:
            return
        states = self._store.load_states(missing)
        for symbol in missing:
            state = states.get(symbol)
            if state is None:
                self._streams[symbol] = SymbolStream(symbol, self._params, self._rules, self._timeframes)
                continue
            try:
                self._streams[symbol] = SymbolStream.from_state(symbol, state, self._params, self._rules,
                                                                self._timeframes)
            except (KeyError, *DATA_ERRORS) as exc:
                self._streams[symbol] = self._rebuild(symbol, exc)

    def _rebuild(self, symbol: str, exc: BaseException) -> SymbolStream:
        """A saved state that cannot be restored: replay the symbol's stored bars instead, after its
        newest checkpoint that fits the settings (README "Data lifecycle")."""
        source = self._store.load_rebuild_source(symbol, [tf.name for tf in self._timeframes])
        stream = SymbolStream.replay(symbol, source.bars, self._params, self._rules, self._timeframes, source.start)
        self._stats.state_rebuilds += 1
        event(log, "saved symbol state could not be restored; rebuilt it from the stored bars", logging.WARNING,
              symbol=symbol, bars=len(source.bars), from_checkpoint=source.start is not None,
              history_cut_by_retention=source.cut, error=printable(error_text(exc)))
        return stream
