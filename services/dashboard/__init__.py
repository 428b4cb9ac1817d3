"""The live dashboard: page, read-only REST, WebSocket feed of committed bars and signals,
webhook notifications of signals, and the per-symbol summaries of the market_summary DAG."""
