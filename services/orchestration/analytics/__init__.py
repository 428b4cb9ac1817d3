"""The market DAGs' logic (market_summary, signal_evaluation, market_forecast, market_recommendations):
what the dashboard shows beside the live bars, computed from the stored ones.

- `market_summary`:    per-symbol summaries of the last hour, day and week, and signal hit rates
- `signal_evaluation`: what following each rule's signals would have done, beside buy-and-hold
- `forecasting`:       the forecast models and their choice by rolling-origin CV (no I/O)
- `market_forecast`:   per symbol, the next days' close, high, low and volume, stored
- `recommendations`:   a recommendation per symbol and timeframe, every number from a stored row
- `phrasing`:          its wording by an optional LLM, whose numbers are checked
"""
