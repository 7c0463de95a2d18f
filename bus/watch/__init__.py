"""The oversight watch (`bus watch`): a stream processor over the audit topic that raises alerts
when the decisions look like misuse (bulk pulling, someone looking for a person, probing, a broken
adapter or a stolen key, a silent register). The rules are pure (rules.py, over window state
behind a small protocol); the faust app (app.py) only binds them to changelog-backed tables."""
