"""The signed envelope: SD-JWT (RFC 9901) in CloudEvents Kafka binary mode, encoded by producers
and checked by the enforcer and the consumers."""
