"""The live dashboard: page, read-only REST, WebSocket feed of committed bars and signals,
webhook notifications of signals, and the per-symbol summaries the market_summary DAG stores
(computed by services/orchestration/analytics/market_summary.py; the dashboard only reads them).

- `app`:          `create_app`: starts and stops the feed and the webhooks, mounts the routes below
- `page`:         the page at / and its charting library
- `rest`:         /api/*, with `query_params` (parameter checks), `schemas` (response models)
                  and `queries` (the SQL)
- `ws`:           /ws, the WebSocket feed, with its client cap and send timeout
- `feed`:         LISTEN/NOTIFY listener, fan-out hub, WebSocket messages, and the feed's pruning
- `webhooks`:     signed webhooks for new signals
- `monitoring`:   /healthz, /readyz, /metrics
- `__main__`:     `python -m services.dashboard`: serve (summaries once by hand:
                  `python -m services.orchestration summarize`)
"""
