"""Running and talking to the project's own Apache Kafka broker."""
