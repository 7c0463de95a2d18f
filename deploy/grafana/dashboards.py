"""The operators' Grafana dashboards, as code (grafana-foundation-sdk, Grafana Labs' own builders):
the enforcer, the audit trail, the watch. `generate.py` writes them to dashboards/*.json; a test
checks that the committed JSON is what this makes now and that every metric a panel queries is
one the code exports (tests/unit/test_deploy_metric_names.py)."""

import warnings
from typing import Any

with warnings.catch_warnings():
    # Its modules warn at import that a v2 dashboard schema exists; v2 needs Grafana 12 with a
    # feature flag, the classic JSON model built here imports into any Grafana from 10 on.
    warnings.simplefilter("ignore", DeprecationWarning)
    from grafana_foundation_sdk.builders.dashboard import Dashboard, DatasourceVariable, Row
    from grafana_foundation_sdk.builders.prometheus import Dataquery
    from grafana_foundation_sdk.builders.stat import Panel as Stat
    from grafana_foundation_sdk.builders.timeseries import Panel as Timeseries
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.models.common import DataSourceRef

PROMETHEUS = DataSourceRef(type_val="prometheus", uid="${datasource}")
Panel = tuple[str, str, str, list[tuple[str, str]]]  # kind, title, unit, [(expr, legend)]


def p99(histogram: str, by: str = "") -> str:
    """The 99th percentile of `histogram` over 5 minutes, per `by` if given."""
    labels = f"le, {by}" if by else "le"
    return f"histogram_quantile(0.99, sum by ({labels}) (rate({histogram}_bucket[5m])))"


def _panel(number: int, kind: str, title: str, unit: str, queries: list[tuple[str, str]]) -> Any:
    builder = (Stat() if kind == "stat" else Timeseries()).id(number).title(title).unit(unit)
    builder = builder.datasource(PROMETHEUS).height(8).span(12 if kind == "series" else 6)
    for n, (expr, legend) in enumerate(queries):
        builder = builder.with_target(
            Dataquery().expr(expr).legend_format(legend).ref_id(chr(ord("A") + n))
        )
    return builder


def _dashboard(uid: str, title: str, rows: list[tuple[str, list[Panel]]]) -> Any:
    board = (
        Dashboard(title)
        .uid(uid)
        .tags(["govbus"])
        .refresh("30s")
        .time("now-6h", "now")
        .timezone("browser")
        .with_variable(DatasourceVariable("datasource").label("Prometheus").type("prometheus"))
    )
    number = 0
    for row_title, panels in rows:
        number += 1
        board = board.with_row(Row(row_title).id(number))
        for panel in panels:
            number += 1
            board = board.with_panel(_panel(number, *panel))
    return board


def dashboards() -> dict[str, Any]:
    """File name → dashboard builder."""
    return {
        "enforcer.json": _dashboard(
            "govbus-enforcer",
            "govbus: enforcer",
            [
                (
                    "Health",
                    [
                        (
                            "stat",
                            "Paused (fail closed)",
                            "none",
                            [("max(bus_enforcer_paused)", "paused")],
                        ),
                        (
                            "stat",
                            "Policy in force",
                            "none",
                            [("min(bus_enforcer_policy_in_force)", "in force")],
                        ),
                        (
                            "stat",
                            "State age",
                            "s",
                            [("max(bus_enforcer_state_age_seconds)", "age")],
                        ),
                        (
                            "stat",
                            "ACLs in sync",
                            "none",
                            [("min(bus_enforcer_acls_in_sync)", "in sync")],
                        ),
                    ],
                ),
                (
                    "Flow",
                    [
                        (
                            "series",
                            "Events consumed",
                            "ops",
                            [
                                (
                                    "sum by (event_type) (rate(bus_enforcer_events_consumed_total[5m]))",
                                    "{{event_type}}",
                                )
                            ],
                        ),
                        (
                            "series",
                            "Decisions",
                            "ops",
                            [
                                (
                                    "sum by (outcome) (rate(bus_enforcer_decisions_total[5m]))",
                                    "{{outcome}}",
                                )
                            ],
                        ),
                        (
                            "series",
                            "Quarantined",
                            "ops",
                            [
                                (
                                    "sum by (reason) (rate(bus_enforcer_quarantined_total[5m]))",
                                    "{{reason}}",
                                )
                            ],
                        ),
                        (
                            "series",
                            "Lag",
                            "short",
                            [("sum by (topic) (bus_enforcer_consumer_lag_records)", "{{topic}}")],
                        ),
                    ],
                ),
                (
                    "Latency",
                    [
                        (
                            "series",
                            "End to end (p99)",
                            "s",
                            [
                                (
                                    p99("bus_enforcer_end_to_end_seconds"),
                                    "p99",
                                )
                            ],
                        ),
                        (
                            "series",
                            "Processing per batch (p99)",
                            "s",
                            [
                                (
                                    p99("bus_enforcer_processing_seconds"),
                                    "p99",
                                )
                            ],
                        ),
                        (
                            "series",
                            "Transaction commit (p99)",
                            "s",
                            [
                                (
                                    p99("bus_enforcer_transaction_commit_seconds"),
                                    "p99",
                                )
                            ],
                        ),
                        (
                            "series",
                            "Loop errors",
                            "short",
                            [
                                (
                                    "sum by (stage) (increase(bus_enforcer_loop_errors_total[5m]))",
                                    "{{stage}}",
                                )
                            ],
                        ),
                    ],
                ),
            ],
        ),
        "audit-trail.json": _dashboard(
            "govbus-audit",
            "govbus: audit trail",
            [
                (
                    "Indexer",
                    [
                        ("stat", "Lag", "short", [("sum(bus_audit_indexer_lag_records)", "lag")]),
                        (
                            "stat",
                            "Unsigned tail",
                            "short",
                            [("max(bus_audit_unsigned_records)", "unsigned")],
                        ),
                        (
                            "stat",
                            "Witness behind",
                            "none",
                            [("max(bus_audit_witness_behind)", "behind")],
                        ),
                        ("stat", "Chain head", "short", [("max(bus_audit_chain_head_seq)", "seq")]),
                        (
                            "series",
                            "Records stored",
                            "ops",
                            [
                                ("rate(bus_audit_records_stored_total[5m])", "stored"),
                                ("rate(bus_audit_records_unreadable_total[5m])", "unreadable"),
                            ],
                        ),
                        (
                            "series",
                            "Store transaction (p99)",
                            "s",
                            [
                                (
                                    p99("bus_audit_append_seconds"),
                                    "p99",
                                )
                            ],
                        ),
                    ],
                ),
                (
                    "Auditor API",
                    [
                        (
                            "series",
                            "Requests",
                            "reqps",
                            [
                                (
                                    "sum by (status) (rate(bus_audit_api_requests_total[5m]))",
                                    "{{status}}",
                                )
                            ],
                        ),
                        (
                            "series",
                            "Request time (p99)",
                            "s",
                            [
                                (
                                    p99("bus_audit_api_request_seconds", "route"),
                                    "{{route}}",
                                )
                            ],
                        ),
                    ],
                ),
            ],
        ),
        "watch.json": _dashboard(
            "govbus-watch",
            "govbus: oversight watch",
            [
                (
                    "Watch",
                    [
                        (
                            "series",
                            "Alerts raised",
                            "short",
                            [("sum by (rule) (increase(bus_watch_alerts_total[15m]))", "{{rule}}")],
                        ),
                        (
                            "series",
                            "Audit records observed",
                            "ops",
                            [
                                ("rate(bus_watch_records_total[5m])", "observed"),
                                ("rate(bus_watch_records_unreadable_total[5m])", "unreadable"),
                            ],
                        ),
                        (
                            "stat",
                            "Newest record's age when read",
                            "s",
                            [("max(bus_watch_record_age_seconds)", "age")],
                        ),
                        (
                            "series",
                            "Time per record (p99)",
                            "s",
                            [
                                (
                                    p99("bus_watch_observe_seconds"),
                                    "p99",
                                )
                            ],
                        ),
                    ],
                ),
            ],
        ),
    }


def render(builder: Any) -> str:
    """The dashboard as Grafana's JSON model, with the data source as a variable to pick."""
    encoded = JSONEncoder(sort_keys=True, indent=2).encode(builder.build())
    return str(encoded) + "\n"
