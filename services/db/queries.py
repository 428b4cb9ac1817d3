"""SQL that more than one service runs, named once."""
from __future__ import annotations

# A symbol's stored base bars, oldest first, as (epoch seconds, open, high, low, close, volume): what its
# streaming state is rebuilt from (the processor, services/processor/store.py; the indicator_backfill
# DAG, services/orchestration/indicators/state.py).
STORED_BASE_BARS_SQL = ("SELECT extract(epoch FROM ts)::float8, open, high, low, close, volume FROM bars "
                        "WHERE symbol = %s AND timeframe = 'raw' ORDER BY ts")
