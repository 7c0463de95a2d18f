"""The development environment: this repository's own Kafka broker (provisioning the jars, its
configuration, start, probe, stop) and PostgreSQL server, for the demo and the tests.

Not part of the product: a deployment connects to *a* Kafka and *a* PostgreSQL. The SDKs and the
services must not import it (an import-linter contract in pyproject.toml says which may).
"""
