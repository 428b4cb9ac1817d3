"""Replay of OHLCV history files through ingest (`python -m services.replay --help`; README "Real market data")."""
