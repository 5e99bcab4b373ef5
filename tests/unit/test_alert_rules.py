"""The shipped Prometheus alert rules (deploy/prometheus/alerts.yaml) parse as a rule file,
and every openkling metric they use is one that `/metrics` exports."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from prometheus_client.parser import text_string_to_metric_families

from openkling.observability.metrics import TaskStats, render

RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "alerts.yaml"
DURATION = re.compile(r"\d+[smhd]")


def exported() -> set[str]:
    names = set()
    for family in text_string_to_metric_families(render(TaskStats()).decode()):
        names.add(family.name)
        suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_count", "_sum"]}
        names.update(family.name + suffix for suffix in suffixes.get(family.type, []))
    return names


def test_rules_are_a_valid_rule_file() -> None:
    document = yaml.safe_load(RULES.read_text())
    assert set(document) == {"groups"}
    [group] = document["groups"]
    assert group["name"] == "openkling"
    names = [rule["alert"] for rule in group["rules"]]
    assert len(names) == len(set(names))
    for rule in group["rules"]:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
        assert rule["expr"].count("(") == rule["expr"].count(")"), rule
        assert "for" not in rule or DURATION.fullmatch(rule["for"]), rule
        assert rule["labels"]["severity"] in ("page", "warn"), rule
        assert rule["annotations"]["summary"], rule


def test_rules_use_only_exported_metrics_and_page_for_a_dead_worker() -> None:
    rules = yaml.safe_load(RULES.read_text())["groups"][0]["rules"]
    used = {name for rule in rules for name in re.findall(r"openkling_[a-z_]+", rule["expr"])}
    assert used <= exported(), used - exported()
    paging = {rule["alert"]: rule["expr"] for rule in rules
              if rule["labels"]["severity"] == "page"}
    assert "openkling_workers_alive" in paging["OpenklingNoLiveWorker"]
    assert "openkling_worker_heartbeat_age_seconds" in paging["OpenklingWorkerHeartbeatOld"]


def test_the_rules_are_documented() -> None:
    operations = (RULES.parents[2] / "docs" / "operations.md").read_text()
    for rule in yaml.safe_load(RULES.read_text())["groups"][0]["rules"]:
        assert f"`{rule['alert']}`" in operations, rule["alert"]
