"""Ingest: HTTP front door. Validates every record and publishes it to Kafka."""
