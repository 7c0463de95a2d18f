"""The `bus` command line."""
