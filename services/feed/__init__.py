"""Real market data feeds through ingest (`python -m services.feed alpaca --help`; README "Real market data")."""
