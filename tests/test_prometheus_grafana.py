"""The Prometheus rules and Grafana dashboards that ship in deploy/: promtool checks and unit-tests the
rules, and every metric and label they name must be one tradehub really exports (shared/metrics.py),
so a renamed metric cannot leave an alert that never fires or a panel that stays empty."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY

from shared import metrics

ROOT = Path(__file__).resolve().parent.parent
PROMETHEUS = ROOT / "deploy" / "prometheus"
GRAFANA = ROOT / "deploy" / "grafana"
RULES = PROMETHEUS / "alerts.yml"
RULE_TESTS = PROMETHEUS / "tests" / "alerts_test.yml"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
# the series names prometheus_client exposes for one metric family, by its type
SUFFIXES = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count"),
            "summary": ("_sum", "_count"), "info": ("_info",)}
TARGET_LABELS = {"job", "instance"}  # added by Prometheus to every scraped series
SCRAPE_SERIES = {"up": TARGET_LABELS}  # written by Prometheus itself for each target
# one alert for each case the deployment must watch (issue 16)
REQUIRED_ALERTS = {"TradehubFeedSilent", "TradehubFeedDown", "TradehubStreamLagHigh", "TradehubDLQGrowing",
                   "TradehubBreakerOpen", "TradehubHeartbeatMissing", "TradehubBackupOverdue",
                   "TradehubVenueRateLimited", "TradehubTrackerOverWeightShare"}


def promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run promtool; its absence is a failure that says how to get it, never a skip."""
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is not installed: `make promtool` (as root: apt-get install "
                    "--no-install-recommends prometheus, Debian's package carries promtool)")
    return subprocess.run([path, *map(str, args)], capture_output=True, text=True, timeout=120)


def exported() -> dict[str, set[str]]:
    """Series name -> its label names, for every tradehub metric in the registry shared/metrics.py fills."""
    # prometheus_client has no public accessor for a metric's label names
    labels = {m._name: set(m._labelnames) for m in vars(metrics).values()
              if hasattr(m, "_labelnames") and hasattr(m, "_name")}
    names = {name: set(labels) for name, labels in SCRAPE_SERIES.items()}
    for family in REGISTRY.collect():
        if family.name.startswith("tradehub_"):
            for suffix in SUFFIXES[family.type]:
                extra = {"le"} if suffix == "_bucket" else set()
                names[family.name + suffix] = labels.get(family.name, set()) | extra
    return names


def unquoted(expr: str) -> str:
    """The expression without its string literals (a label value may hold anything)."""
    return re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)


def metric_names(expr: str) -> set[str]:
    """tradehub's series the expression reads, and Prometheus's own `up`."""
    plain = unquoted(expr)
    own = {name for name in SCRAPE_SERIES if re.search(rf"\b{name}\s*[{{\[]", plain)}
    return set(re.findall(r"\btradehub_[A-Za-z0-9_:]+", plain)) | own


def label_names(expr: str) -> set[str]:
    """Labels the expression relies on: in matchers and in by/without/on/ignoring/group_* clauses."""
    plain = unquoted(expr)
    found = set()
    for matchers in re.findall(r"\{([^}]*)\}", plain):
        found |= set(re.findall(r"([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)", matchers))
    for clause in re.findall(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)", plain):
        found |= {name.strip() for name in clause.split(",") if name.strip()}
    return found - {"__name__"}


def alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def dashboard_targets() -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(dashboard file, panel title, target) for every query of every panel."""
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel.get("targets", []):
                yield path.name, panel["title"], target


def test_promtool_checks_the_config_and_the_rules() -> None:
    for args in (("check", "config", PROMETHEUS / "prometheus.yml"), ("check", "rules", RULES)):
        done = promtool(*args)
        assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_unit_tests_of_the_rules_pass() -> None:
    done = promtool("test", "rules", RULE_TESTS)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_every_case_has_a_rule_with_a_runbook_and_the_key_rules_have_unit_tests() -> None:
    rules = alert_rules()
    assert REQUIRED_ALERTS <= {rule["alert"] for rule in rules}
    for rule in rules:
        assert rule["labels"]["severity"] in {"info", "warning", "critical"}, rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["runbook"], rule["alert"]
    tests = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    tested = {case["alertname"] for test in tests for case in test.get("alert_rule_test", [])
              if case.get("exp_alerts")}  # a test that shows the rule firing, not only staying quiet
    assert {"TradehubFeedSilent", "TradehubStreamLagHigh"} <= tested
    assert tested == {rule["alert"] for rule in rules}, "every rule is shown firing in alerts_test.yml"


def test_every_metric_and_label_the_rules_name_is_exported() -> None:
    names = exported()
    assert "tradehub_events_published_total" in names and "tradehub_store_seconds_bucket" in names
    for rule in alert_rules():
        expr = rule["expr"]
        used = metric_names(expr)
        assert used, rule["alert"]
        assert used <= names.keys(), f"{rule['alert']}: not exported: {sorted(used - names.keys())}"
        known = set().union(*(names[name] for name in used)) | TARGET_LABELS
        templated = set(re.findall(r"\$labels\.(\w+)", " ".join(rule["annotations"].values())))
        unknown = (label_names(expr) | templated) - known
        assert not unknown, f"{rule['alert']}: labels no metric of it has: {sorted(unknown)}"


def test_every_metric_and_label_the_dashboards_name_is_exported() -> None:
    names = exported()
    targets = list(dashboard_targets())
    assert targets
    for dashboard, title, target in targets:
        used = metric_names(target["expr"])
        where = f"{dashboard} / {title}: {target['expr']}"
        assert used, where
        assert used <= names.keys(), f"{where}: not exported: {sorted(used - names.keys())}"
        known = set().union(*(names[name] for name in used)) | TARGET_LABELS
        legend = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", target.get("legendFormat", "")))
        assert label_names(target["expr"]) | legend <= known, where


def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    """promtool parses each query, written as a recording rule."""
    rules = [{"record": f"dashboard:query_{i}", "expr": target["expr"]}
             for i, (_, _, target) in enumerate(dashboard_targets())]
    path = tmp_path / "dashboard_queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    done = promtool("check", "rules", path)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_dashboards_are_plain_json_on_the_provisioned_datasource() -> None:
    datasource = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
    uid = datasource["datasources"][0]["uid"]
    assert datasource["datasources"][0]["url"] == "http://prometheus:9090"
    assert {path.stem for path in DASHBOARDS} >= {"feeds", "streams", "storage", "api", "traders"}
    uids = set()
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        assert board["title"].startswith("tradehub") and board["uid"] not in uids, path.name
        uids.add(board["uid"])
        ids = [panel["id"] for panel in board["panels"]]
        assert len(ids) == len(set(ids)), f"{path.name}: panel ids repeat"
        for panel in board["panels"]:
            assert panel["type"] in {"timeseries", "stat"}, f"{path.name}: {panel['title']}"
            assert panel["datasource"]["uid"] == uid and panel["targets"], f"{path.name}: {panel['title']}"
            assert all(target["datasource"]["uid"] == uid for target in panel["targets"])


def test_compose_mounts_the_rules_the_datasource_and_the_dashboards() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    mounts = {service: dict(volume.split(":")[:2] for volume in compose[service]["volumes"]
                            if volume.startswith("./"))
              for service in ("prometheus", "grafana")}
    assert mounts["prometheus"] == {"./deploy/prometheus": "/etc/prometheus"}
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    assert all((PROMETHEUS / name).is_file() for name in config["rule_files"])
    for source in mounts["grafana"]:
        assert (ROOT / source).is_dir(), source
    provider = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "tradehub.yml").read_text())
    folder = provider["providers"][0]["options"]["path"]
    assert mounts["grafana"]["./deploy/grafana/dashboards"] == folder
    home = compose["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (GRAFANA / "dashboards" / Path(home).relative_to(folder)).is_file()
