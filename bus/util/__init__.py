"""Small helpers with no knowledge of the bus's domain: paths, private files, encodings, logs, the
metrics endpoint, how values from outside are shown in messages."""
