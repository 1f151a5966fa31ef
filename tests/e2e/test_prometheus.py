"""The seed day's domain metrics as a real Prometheus scrapes them from the six services.

The services run as processes against a real broker (the pieces `degflex demo` uses: its
`ServiceProcs` picks their ports, `replay_day` drives the clock at 3600x); Debian's Prometheus,
run with the project's deploy/prometheus/prometheus-local.yml and alerts.yml (targets file
pointed at the demo's ports, scrape interval 500 ms), scrapes every service while the day is replayed, and the services are stopped only
once it has scraped the settled day. Then PromQL must find the day's hand-worked figures
(docs/scenarios.md), every panel of the Grafana dashboards (deploy/grafana/dashboards/) must
return data with its template variables filled from Prometheus, and `promtool check metrics`
must pass on every service's /metrics text.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from contracts.scenario import load_scenario
from contracts.topics import SERVICES, consumed_by
from services.replay.driver import ServiceProcs, create_topics, replay_day, wait_statement

REPO = Path(__file__).resolve().parents[2]
SEED = REPO / "scenarios" / "seed-cambridge-manchester.yaml"
DASHBOARDS = REPO / "deploy" / "grafana" / "dashboards"
PROM = REPO / "deploy" / "prometheus"
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
SPEED = 3600  # an event hour per wall second: the day takes 24 s
SCRAPE = "500ms"
SCRAPE_S = 0.5
CAM, MAN = "cambridge-east", "manchester"
CAM_ORDER, MAN_ORDER = "order-cambridge-east-20251117", "order-manchester-20251117"
EVENT = "stress-uk-east-1400"

pytestmark = [
    pytest.mark.e2e, pytest.mark.kafka,
    pytest.mark.skipif(not (Path(PROMETHEUS).is_file() and Path(PROMTOOL).is_file()),
                       reason="Debian's Prometheus is not installed (apt-get install prometheus "
                              "gives /usr/bin/prometheus and /usr/bin/promtool)"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str, timeout: float = 5) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return bytes(r.read())


def _until(what: str, check: Callable[[], bool], timeout_s: float, every_s: float = 0.2) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if check():
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} within {timeout_s:.0f} s")
        time.sleep(every_s)


def seen(value: float, samples: list[float]) -> bool:
    """The value is among the samples (meter readings carry 9 decimals)."""
    return any(abs(v - value) < 1e-6 for v in samples)


def project_config(tmp: Path, ports: dict[str, int]) -> Path:
    """deploy/prometheus/prometheus-local.yml with its rules (alerts.yml) and its targets file
    (local-targets.json: the same groups and labels, the demo's ports), as operations.md says to
    run it; only the global intervals are shortened for a day replayed in 24 s."""
    config = yaml.safe_load((PROM / "prometheus-local.yml").read_text())
    config["global"].update(scrape_interval=SCRAPE, scrape_timeout=SCRAPE,
                            evaluation_interval="1s")
    (tmp / "prometheus-local.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    shutil.copy(PROM / "alerts.yml", tmp / "alerts.yml")
    groups = json.loads((PROM / "local-targets.json").read_text())
    assert sorted(g["labels"]["service"] for g in groups) == sorted(ports)
    for g in groups:
        g["targets"] = [f"127.0.0.1:{ports[g['labels']['service']]}"]
    (tmp / "local-targets.json").write_text(json.dumps(groups, indent=2))
    return tmp / "prometheus-local.yml"


def promtool(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PROMTOOL, *args], check=False, input=stdin, capture_output=True,
                          text=True, timeout=30)


@dataclass
class Live:
    """A Prometheus that scraped the six services through the whole seed day."""

    url: str
    prefix: str
    texts: dict[str, str]
    progress: list[tuple[float, str]]

    def query(self, promql: str) -> list[dict[str, Any]]:
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        doc = json.loads(_get(url))
        assert doc["status"] == "success", doc
        return list(doc["data"]["result"])

    def label_values(self, label: str, metric: str) -> list[str]:
        url = (f"{self.url}/api/v1/label/{label}/values?"
               + urllib.parse.urlencode({"match[]": metric}))
        doc = json.loads(_get(url))
        assert doc["status"] == "success", doc
        return list(doc["data"])

    def value(self, promql: str) -> float:
        """The single series' value of an instant query."""
        result = self.query(promql)
        assert len(result) == 1, (promql, result)
        return float(result[0]["value"][1])

    def samples(self, selector: str, window: str = "10m") -> list[float]:
        """Every raw sample Prometheus scraped for one series over the window."""
        result = self.query(f"{selector}[{window}]")
        assert len(result) == 1, (selector, result)
        return [float(v) for _, v in result[0]["values"]]


@pytest.fixture(scope="module")
def live(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("prometheus")
    sc = load_scenario(SEED)
    prefix = f"e2e.prom.{uuid.uuid4().hex[:8]}."
    procs = ServiceProcs()
    prom: subprocess.Popen[bytes] | None = None
    progress: list[tuple[float, str]] = []
    t0 = time.monotonic()
    try:
        asyncio.run(create_topics(kafka_bootstrap, prefix))
        procs.start(kafka_bootstrap, prefix, sc, SEED, tmp / "logs")
        procs.wait_ready(90, tmp / "logs")
        config = project_config(tmp, procs.ports)
        checked = promtool("check", "config", str(config))
        assert checked.returncode == 0, checked.stdout + checked.stderr
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        with open(tmp / "prometheus.log", "wb") as log:
            prom = subprocess.Popen(
                [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp / 'tsdb'}",
                 f"--web.listen-address=127.0.0.1:{port}"],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        live = Live(url, prefix, {}, progress)
        _until("Prometheus ready", lambda: _get(f"{url}/-/ready", 1) is not None, 30)
        _until("every service scraped up",
               lambda: len(live.query("up == 1")) == len(SERVICES), 30)
        progress.append((time.monotonic() - t0, "replay starts"))
        asyncio.run(replay_day(sc, kafka_bootstrap, prefix, SPEED,
                               lambda m: progress.append((time.monotonic() - t0, m))))
        asyncio.run(wait_statement(kafka_bootstrap, prefix, 60))
        progress.append((time.monotonic() - t0, "settled"))
        # every service has observed all it will: a scrape started after now sees it all. Wait
        # for two such scrapes: a counter first written at the day's end (settlement's
        # statement) needs two samples before rate() over it has any value.
        settled_at = time.time()
        _until("every service scraped twice after the day settled",
               lambda: live.value("min(timestamp(up))") > settled_at + 2 * SCRAPE_S, 30)
        live.texts.update({name: _get(f"http://127.0.0.1:{p}/metrics").decode()
                           for name, p in procs.ports.items()})
        yield live
    finally:
        procs.stop()
        if prom is not None:
            prom.terminate()
            try:
                prom.wait(15)
            except subprocess.TimeoutExpired:
                prom.kill()
                prom.wait()


# ---- the seed day, as Prometheus saw it ----------------------------------------------------


def test_every_service_is_up(live: Live) -> None:
    up = {r["metric"]["job"]: r["value"][1] for r in live.query("up")}
    assert up == {name: "1" for name in SERVICES}


def test_cambridge_runs_900_kw_after_the_event_and_manchester_1500(live: Live) -> None:
    cam = f'site_load_kw{{site="{CAM}"}}'
    man = f'site_load_kw{{site="{MAN}"}}'
    # batch-a 1200 kW from 10:00; 300 kW moved away at 14:00; nothing before 10:00
    assert live.value(f"max_over_time({cam}[10m])") == pytest.approx(1200)
    assert live.value(f"min_over_time({cam}[10m])") == 0
    assert seen(900, live.samples(cam)), live.progress
    # batch-b 1200 kW from 14:00 plus the 300 kW moved in, until 16:00
    assert live.value(f"max_over_time({man}[10m])") == pytest.approx(1500)
    assert seen(1200, live.samples(man))
    # Cambridge imports 900 - 150 (battery) = 750 kW; the battery recharges at 200 kW at 22:00
    assert seen(750, live.samples(f'site_grid_import_kw{{site="{CAM}"}}'))
    battery = f'site_battery_discharge_kw{{site="{CAM}"}}'
    assert live.value(f"max_over_time({battery}[10m])") == pytest.approx(150)
    assert live.value(f"min_over_time({battery}[10m])") == pytest.approx(-200)
    # 400 kWh at 90 %: 300 kWh out leaves 15 % (16:00), the recharge brings it back to 90 %
    soc = f'site_battery_state_of_charge_ratio{{site="{CAM}"}}'
    assert live.value(f"max_over_time({soc}[10m])") == pytest.approx(0.9)
    assert live.value(f"min_over_time({soc}[10m])") == pytest.approx(0.15)
    assert live.query(f'site_battery_state_of_charge_ratio{{site="{MAN}"}}') == []
    # the day's import: 4800 (10-14) + 750 x 2 (14-16) + the 333.33 kWh recharge
    assert live.value(f'site_energy_imported_kwh_total{{site="{CAM}"}}') == pytest.approx(
        4800 + 1500 + 300 / 0.9, abs=1e-3)
    assert live.value(f'site_energy_imported_kwh_total{{site="{MAN}"}}') == pytest.approx(5400)


def test_the_grid_published_the_stress_and_confirmed_both_orders(live: Live) -> None:
    east = 'zone="UK-EAST"'
    assert live.value(f"max_over_time(grid_stress_active{{{east}}}[10m])") == 1
    assert live.value(f"min_over_time(grid_stress_active{{{east}}}[10m])") == 0
    assert live.value(f"grid_stress_events_total{{{east}}}") == 1
    renewables = live.samples(f"grid_zone_renewable_ratio{{{east}}}")
    assert seen(0.45, renewables) and seen(0.8, renewables)  # the stress; 11:00-13:00
    assert seen(134, live.samples(f"grid_zone_carbon_intensity_grams_per_kwh{{{east}}}"))
    assert seen(0.132, live.samples(f"grid_zone_price_gbp_per_kwh{{{east}}}"))
    assert live.value('max_over_time(grid_orders{state="CONFIRMED"}[10m])') == 2
    assert live.value('grid_orders{state="REJECTED"}') == 0
    assert live.value('compflex_orders{state="confirmed"}') == 2
    assert live.value('compflex_orders{state="selected"}') == 0
    for site in (CAM, MAN):
        assert live.value(f'compflex_placements_total{{site="{site}"}}') >= 1


def test_300_kw_shifted_150_kw_battery_and_450_kw_verified(live: Live) -> None:
    assert live.value(f'fulfilment_shifted_kw{{site="{CAM}"}}') == 300
    assert live.value(f'fulfilment_battery_kw{{site="{CAM}"}}') == 150
    assert live.value(f'fulfilment_shortfall_kw{{site="{CAM}"}}') == 0
    assert live.value(
        f'fulfilment_commands_total{{site="{CAM}",action="battery_discharge"}}') == 1
    assert live.value(f'sum(fulfilment_commands_total{{site="{MAN}"}})') >= 1
    assert live.value(
        'stream_response_seconds_count{type="beckn.on_update",job="load-shifter"}') >= 1
    labels = f'site="{CAM}",event="{EVENT}"'
    assert live.value(f"flexibility_verified_kw{{{labels}}}") == 450
    assert live.value(f"flexibility_delivered_kwh{{{labels}}}") == 900
    assert live.value(f'flexibility_net_system_kw{{event="{EVENT}"}}') == 150
    assert live.value('flexibility_verifications_total{verdict="delivered"}') == 1


def test_cost_carbon_and_payment_per_beckn_order(live: Live) -> None:
    def per(name: str, order: str, basis: str) -> float:
        return live.value(f'{name}{{order_id="{order}",basis="{basis}"}}')

    assert per("settlement_cost_gbp", CAM_ORDER, "baseline") == pytest.approx(806.40, abs=1e-3)
    assert per("settlement_cost_gbp", CAM_ORDER, "actual") == pytest.approx(
        489.60 + 198.00 + 300 / 0.9 * 0.070, abs=1e-3)
    assert per("settlement_cost_gbp", MAN_ORDER, "baseline") == pytest.approx(441.60, abs=1e-3)
    assert per("settlement_cost_gbp", MAN_ORDER, "actual") == pytest.approx(496.80, abs=1e-3)
    assert per("settlement_carbon_kg", CAM_ORDER, "baseline") == pytest.approx(494.4, abs=1e-3)
    assert per("settlement_carbon_kg", CAM_ORDER, "actual") == pytest.approx(399.8, abs=1e-3)
    assert per("settlement_carbon_kg", MAN_ORDER, "actual") == pytest.approx(270.0, abs=1e-3)
    assert live.value(f'settlement_flex_payment_gbp{{order_id="{CAM_ORDER}"}}') == 135
    assert live.value(f'settlement_site_energy_kwh{{site="{MAN}"}}') == pytest.approx(5400)
    assert live.value("settlement_orders_completed_total") == 2
    assert live.query("stream_dead_letters_total > 0") == []


def test_promtool_finds_every_services_metrics_clean(live: Live) -> None:
    assert set(live.texts) == set(SERVICES)
    for name, text in live.texts.items():
        checked = promtool("check", "metrics", stdin=text)
        assert checked.returncode == 0 and not checked.stdout.strip(), (
            name, checked.stdout + checked.stderr)



def test_the_alerting_rules_load_evaluate_and_stay_quiet_on_a_clean_day(live: Live) -> None:
    doc = json.loads(_get(f"{live.url}/api/v1/rules"))
    (group,) = doc["data"]["groups"]
    names = {r["name"]: r for r in group["rules"]}
    assert set(names) == {"DegflexServiceDown", "DegflexServiceNotReady", "DegflexDeadLetters",
                          "DegflexConsumerLagHigh", "DegflexConsumerStalled",
                          "DegflexConsumerFallingBehind"}
    assert all(r["health"] == "ok" for r in names.values()), names
    assert live.query('ALERTS{alertstate="firing"}') == []


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for p in dashboard["panels"]:
        yield p
        yield from p.get("panels", [])  # a collapsed row holds its panels


def test_dashboards_are_provisionable() -> None:
    """The files Grafana loads: unique uids, the provisioned datasource, unique panel ids."""
    boards = {f.name: json.loads(f.read_text()) for f in sorted(DASHBOARDS.glob("*.json"))}
    assert {b["title"] for b in boards.values()} >= {"ComputeCloud", "Grid", "Service health"}
    assert len({b["uid"] for b in boards.values()}) == len(boards)
    for name, board in boards.items():
        ids = [p["id"] for p in panels(board)]
        assert len(ids) == len(set(ids)), name
        for p in panels(board):
            if p["type"] == "row":
                continue
            assert p["datasource"] == {"type": "prometheus", "uid": "prometheus"}, (name, p)
            assert p["targets"] and all(t["expr"] for t in p["targets"]), (name, p["title"])


def fill(expr: str, values: dict[str, str]) -> str:
    """Substitute `$name` and `${name}` as Grafana does (a multi-value "All" becomes a|b)."""
    return re.sub(r"\$\{?(\w+)\}?", lambda m: values[m[1]], expr)


def test_every_dashboard_panel_has_data(live: Live) -> None:
    """Each panel's PromQL returns data with its variables filled as Grafana fills them: a
    multi-value variable with "All" (a|b|...), a single-value one with each of its values in
    turn (the service-health board, once per service)."""
    builtins = {"__range": "10m", "__rate_interval": "1m", "__interval": "1s"}
    empty = []
    checked = 0
    for f in sorted(DASHBOARDS.glob("*.json")):
        board = json.loads(f.read_text())
        fills = [dict(builtins)]
        for v in board["templating"]["list"]:
            m = re.fullmatch(r"label_values\((\w+), *(\w+)\)", v["query"]["query"])
            assert m, (f.name, v["name"])
            found = live.label_values(m[2], m[1])
            assert found, (f.name, v["name"])
            if v.get("multi") or v.get("includeAll"):
                fills = [{**x, v["name"]: "|".join(found)} for x in fills]
            else:
                fills = [{**x, v["name"]: value} for x in fills for value in found]
        for values in fills:
            for p in panels(board):
                for t in p.get("targets", []):
                    expr = fill(t["expr"], values)
                    checked += 1
                    if not live.query(expr):
                        empty.append(f"{f.name} / {p['title']}: {expr}")
    assert not empty, "panels without data:\n" + "\n".join(empty)
    assert checked > 100


def test_the_service_health_board_offers_every_service(live: Live) -> None:
    board = json.loads((DASHBOARDS / "service-health.json").read_text())
    (var,) = board["templating"]["list"]
    assert var["name"] == "service" and not var["multi"]
    assert sorted(live.label_values("service", "stream_ready")) == sorted(SERVICES)
    exprs = [t["expr"] for p in panels(board) for t in p["targets"]]
    assert all('service="$service"' in e for e in exprs)
    # filled with one service, the lag panel shows the topics that service reads, no other
    # (every one carried records on the seed day; a partition appears once it had a record)
    (by_partition,) = [t["expr"] for p in panels(board) for t in p["targets"]
                       if p["title"] == "Consumer lag by partition"]
    for name in SERVICES:
        got = {r["metric"]["topic"] for r in live.query(fill(by_partition, {"service": name}))}
        assert got == {live.prefix + t.name for t in consumed_by(name)}, name
