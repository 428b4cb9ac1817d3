"""Processor: Kafka consumer group -> bars, indicators, signals -> PostgreSQL, effectively once."""
