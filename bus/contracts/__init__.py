"""Machine-readable contracts: what a consumer agency may receive, as AsyncAPI 3.0, and every
event type of the catalogue as JSON Schema. Both are derived, never written by hand: the channels
and their fields from the policy engine's own decisions, the fields' types from the catalogue."""
