"""govbus's native extension (native/, Rust, built by `make setup`), imported once for the bus.

Each user keeps its pure-Python reference beside the native function and uses it where the
extension was not built (a bare `pip install` of govbus): `govbus_native` is only there when
NATIVE is true.
"""

try:
    import govbus_native as govbus_native  # re-exported for the modules that choose

    NATIVE = True
except ImportError:  # pragma: no cover - `make setup` builds it
    NATIVE = False
