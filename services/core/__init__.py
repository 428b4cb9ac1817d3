"""Pure domain: no I/O, no Kafka, no database. Everything here is deterministic and unit-tested."""
