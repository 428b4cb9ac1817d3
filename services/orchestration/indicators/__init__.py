"""The indicator DAGs' logic (indicator_backfill, indicator_reconciliation): recompute what the stream
stored with pandas + ta, compare, write what differs.

- `recompute`:   a symbol's base bars recomputed, chunk by chunk, with enough warm-up history
- `rolled`:      the same for a rolled timeframe's candles (roll-up from the base bars first)
- `chunks`:      either of the two, by timeframe: what the backfill and the reconciliation iterate over
- `signal_diff`: stored signals against the recomputed ones
- `backfill`:    rewrite indicators, candles and signals of a window, idempotently
- `reconcile`:   compare with the recomputation, record mismatches, repair
- `state`:       rebuild a symbol's streaming state after an indicator-settings change
"""
