"""The bus platform: Kafka wiring, envelope, catalogue, enforcer, audit trail and the `bus` CLI."""
