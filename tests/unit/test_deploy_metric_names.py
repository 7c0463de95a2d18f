"""The operators' dashboards and alert rules query only metrics the code exports, and the
committed dashboards are what deploy/grafana/dashboards.py makes now: a metric renamed in the
code without the dashboards (or a typo in a panel) fails here, not on an operator's screen."""

import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml
from prometheus_client import CollectorRegistry

from bus.audit.api.metrics import ApiMetrics
from bus.audit.indexer_metrics import IndexerMetrics
from bus.enforcer.health import EnforcerHealth
from bus.enforcer.metrics import EnforcerMetrics
from bus.watch.metrics import WatchMetrics

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "deploy" / "grafana"
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
_METRIC = re.compile(r"\b(bus_[a-z0-9_]+)\b")
# Series Prometheus makes itself.
_PROMETHEUS_OWN = frozenset({"up"})


def exported() -> set[str]:
    """Every series name the services' metrics produce, suffixes included."""
    registry = CollectorRegistry()
    EnforcerMetrics(registry)
    EnforcerHealth(registry)
    IndexerMetrics(registry)
    ApiMetrics(registry)
    WatchMetrics(registry)
    names: set[str] = set()
    for family in registry.collect():
        suffixes = {
            "counter": ("_total", "_created"),
            "histogram": ("_bucket", "_sum", "_count", "_created"),
            "summary": ("_sum", "_count", "_created"),
            "info": ("_info",),
            "gauge": ("",),
        }[family.type]
        names |= {family.name + suffix for suffix in suffixes}
    return names


def dashboards_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("govbus_dashboards", GRAFANA / "dashboards.py")
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def expressions(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "expr" and isinstance(v, str)] + [
            e for v in node.values() for e in expressions(v)
        ]
    if isinstance(node, list):
        return [e for v in node for e in expressions(v)]
    return []


def test_the_committed_dashboards_are_what_the_code_makes_now() -> None:
    module = dashboards_module()
    made = {name: module.render(builder) for name, builder in module.dashboards().items()}
    committed = {p.name: p.read_text() for p in (GRAFANA / "dashboards").glob("*.json")}
    assert made == committed, "run `.venv/bin/python deploy/grafana/generate.py` and commit"
    assert set(committed) == {"enforcer.json", "audit-trail.json", "watch.json"}


def test_every_metric_a_panel_queries_is_exported() -> None:
    names = exported()
    queried = {
        (path.name, metric)
        for path in (GRAFANA / "dashboards").glob("*.json")
        for expr in expressions(json.loads(path.read_text()))
        for metric in _METRIC.findall(expr)
    }
    assert len(queried) > 20  # the walk found the panels' queries
    assert sorted(q for q in queried if q[1] not in names) == []


def test_every_metric_an_alert_rule_uses_is_exported() -> None:
    names = exported()
    rules = [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]
    used = {m for r in rules for m in _METRIC.findall(r["expr"])}
    assert len(used) > 15
    assert sorted(used - names) == []
    assert all(_METRIC.search(r["expr"]) or "up{" in r["expr"] for r in rules)


def test_a_misspelt_metric_would_be_caught() -> None:
    # The check compares names, not shapes: one letter off is not exported.
    assert "bus_enforcer_consumer_lag_record" not in exported()
    assert "bus_enforcer_consumer_lag_records" in exported()
    assert _PROMETHEUS_OWN.isdisjoint(exported())
