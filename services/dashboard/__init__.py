"""The live dashboard: page, read-only REST, WebSocket live updates of committed bars and signals,
webhook notifications of signals, and the per-symbol summaries the market_summary DAG stores
(computed by services/orchestration/analytics/market_summary.py; the dashboard only reads them).

- `app`:          `create_app`: starts and stops the live updates and the webhooks, mounts the routes below
- `page`:         the page at / and its charting library
- `rest`:         /api/*, with `query_params` (parameter checks), `schemas` (response models)
                  and `queries` (the SQL)
- `ws`:           /ws, the WebSocket live updates, with their client cap and send timeout
- `updates`:      LISTEN/NOTIFY listener, fan-out hub, WebSocket messages, and the pruning of the stored events
- `webhooks`:     signed webhooks for new signals
- `monitoring`:   /healthz, /readyz, /metrics
- `__main__`:     `python -m services.dashboard`: serve (summaries once by hand:
                  `python -m services.orchestration summarize`)
"""
