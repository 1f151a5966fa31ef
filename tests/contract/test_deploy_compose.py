"""docker-compose.yml: valid against the Compose Specification's schema (vendored), our services
built from the one Dockerfile with healthchecks and conditional dependencies, their settings,
ports and scrape targets consistent, and the one-shots real `degflex` subcommands."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator

from contracts.topics import SERVICES
from services import cli
from services.replay import replay_cmd, topics_cmd

REPO = Path(__file__).resolve().parents[2]
SCHEMAS = Path(__file__).resolve().parent / "fixtures" / "schemas"
COMPOSE_SPEC_SHA256 = "bc50c2d79102aed8df21b3a13e56c9396c7a06da6cff5ce37629f2ee7eb41735"
MODULES = {f"services.{s.replace('-', '_')}": s for s in SERVICES}
ONE_SHOTS = ("topics", "replay")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    doc = yaml.safe_load((REPO / "docker-compose.yml").read_text("utf-8"))
    assert isinstance(doc, dict)
    return doc


def ours(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The services built from our image: the seven, the topic creation and the replay."""
    return {n: s for n, s in compose["services"].items() if "build" in s}


def test_vendored_compose_schema_is_the_pinned_upstream_file() -> None:
    data = (SCHEMAS / "compose-spec.json").read_bytes()
    assert hashlib.sha256(data).hexdigest() == COMPOSE_SPEC_SHA256


def test_compose_file_is_valid_against_the_compose_specification(
        compose: dict[str, Any]) -> None:
    schema = json.loads((SCHEMAS / "compose-spec.json").read_text("utf-8"))
    Draft7Validator.check_schema(schema)
    errors = sorted(Draft7Validator(schema).iter_errors(compose), key=lambda e: e.json_path)
    assert [f"{e.json_path}: {e.message}" for e in errors] == []


def test_every_service_is_one_service_and_runs_its_module(compose: dict[str, Any]) -> None:
    services = ours(compose)
    assert set(SERVICES) | set(ONE_SHOTS) == set(services)
    for name in SERVICES:
        assert services[name]["command"] == ["python", "-m", f"services.{name.replace('-', '_')}"]


def test_our_services_use_the_one_dockerfile(compose: dict[str, Any]) -> None:
    for name, service in ours(compose).items():
        assert service["build"] == {"context": ".", "dockerfile": "deploy/docker/Dockerfile"}, name
        assert service["image"] == "degflex:local", name
        assert (REPO / service["build"]["context"] / service["build"]["dockerfile"]).is_file()


def test_long_running_services_have_a_readiness_healthcheck(compose: dict[str, Any]) -> None:
    for name in SERVICES:
        check = compose["services"][name]["healthcheck"]
        assert check["test"][0] == "CMD" and "/readyz" in check["test"][-1], name
        assert not check.get("disable", False)
    for name in ONE_SHOTS:
        assert compose["services"][name]["healthcheck"] == {"disable": True}
        assert compose["services"][name]["restart"] == "no"


def test_every_dependency_names_a_condition_it_can_meet(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, service in services.items():
        if name == "kafka":
            continue
        deps = service.get("depends_on")
        assert isinstance(deps, dict) and deps, f"{name} has no conditional depends_on"
        for dep, spec in deps.items():
            assert dep in services, (name, dep)
            condition = spec["condition"]
            if condition == "service_healthy":
                assert "healthcheck" in services[dep] and not services[dep]["healthcheck"].get(
                    "disable", False), f"{name} waits for {dep} to be healthy; it has no check"
            elif condition == "service_completed_successfully":
                assert dep in ONE_SHOTS, (name, dep)
            else:
                pytest.fail(f"{name} -> {dep}: {condition}")
    for name in SERVICES:
        assert services[name]["depends_on"] == {
            "topics": {"condition": "service_completed_successfully"}}
    assert set(services["replay"]["depends_on"]) == set(SERVICES)
    assert services["topics"]["depends_on"] == {"kafka": {"condition": "service_healthy"}}


def test_kafka_is_the_official_image_in_kraft_mode(compose: dict[str, Any]) -> None:
    kafka = compose["services"]["kafka"]
    assert kafka["image"] == "apache/kafka:4.1.1"
    env = kafka["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "1@kafka:9093"
    assert "PLAINTEXT://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"].split(",")
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert "healthcheck" in kafka


def test_services_get_their_settings_and_distinct_published_ports(
        compose: dict[str, Any]) -> None:
    scenario = compose["services"]["grid-signal"]["environment"]["DEGFLEX_SCENARIO"]
    assert scenario.startswith("/app/")
    assert (REPO / scenario.removeprefix("/app/")).is_file()
    ports = {}
    for name in SERVICES:
        env = compose["services"][name]["environment"]
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
        assert env["DEGFLEX_HTTP_HOST"] == "0.0.0.0"
        port = env["DEGFLEX_HTTP_PORT"]
        assert compose["services"][name]["ports"] == [f"127.0.0.1:{port}:{port}"]
        ports[name] = int(port)
    assert len(set(ports.values())) == len(SERVICES)


def test_prometheus_scrapes_every_service_where_compose_serves_it(
        compose: dict[str, Any]) -> None:
    prometheus = compose["services"]["prometheus"]
    assert "./deploy/prometheus:/etc/prometheus:ro" in prometheus["volumes"]
    config = yaml.safe_load((REPO / "deploy" / "prometheus" / "prometheus.yml").read_text("utf-8"))
    targets = {}
    for job in config["scrape_configs"]:
        for static in job.get("static_configs", []):
            for target in static["targets"]:
                targets[job["job_name"]] = (target, static.get("labels", {}))
    for name in SERVICES:
        port = compose["services"][name]["environment"]["DEGFLEX_HTTP_PORT"]
        assert targets[name] == (f"{name}:{port}", {"service": name, "part_of": "degflex"})


def test_grafana_provisioning_matches_the_compose_mounts(compose: dict[str, Any]) -> None:
    grafana = compose["services"]["grafana"]
    mounts = dict(v.removesuffix(":ro").split(":", 1) for v in grafana["volumes"])
    assert mounts["./deploy/grafana/provisioning"] == "/etc/grafana/provisioning"
    provisioning = REPO / "deploy" / "grafana" / "provisioning"
    datasources = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())
    (source,) = datasources["datasources"]
    assert source["type"] == "prometheus" and source["uid"] == "prometheus"
    assert source["url"] == "http://prometheus:9090"
    assert "127.0.0.1:9090:9090" in compose["services"]["prometheus"]["ports"]
    providers = yaml.safe_load((provisioning / "dashboards" / "degflex.yml").read_text())
    (provider,) = providers["providers"]
    assert mounts["./deploy/grafana/dashboards"] == provider["options"]["path"]
    assert "127.0.0.1:3000:3000" in grafana["ports"]


ONE_SHOT_COMMANDS = {"topics": (["topics", "create"], topics_cmd),
                     "replay": (["replay"], replay_cmd)}


def cli_args(command: list[str]) -> list[str]:
    """The degflex CLI arguments of a `python -m services.cli ...` command."""
    assert command[:3] == ["python", "-m", "services.cli"], command
    return command[3:]


@pytest.mark.parametrize("name", ONE_SHOTS)
def test_one_shots_run_degflex_subcommands_with_their_variables_set(
        compose: dict[str, Any], name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """`degflex topics create` / `degflex replay`, parsed by the real CLI with the service's
    environment: every variable the subcommand reads for its defaults is set by compose."""
    expected, module = ONE_SHOT_COMMANDS[name]
    args = cli_args(compose["services"][name]["command"])
    assert args == expected
    env = compose["services"][name]["environment"]
    assert set(module.ENV) <= set(env), set(module.ENV) - set(env)
    for key in module.ENV:
        monkeypatch.setenv(key, str(env[key]).replace("${DEGFLEX_REPLAY_SPEED:-720}", "720"))
    parsed = cli.parser().parse_args(args)
    assert parsed.func is module.main
    assert parsed.bootstrap == "kafka:9092" and parsed.prefix == ""
    if name == "replay":
        assert parsed.speed == 720
        assert parsed.scenario == "/app/scenarios/seed-cambridge-manchester.yaml"


@pytest.mark.parametrize(("name", "manifest"), [
    ("topics", "deploy/k8s/base/topics-job.yaml"),
    ("replay", "deploy/k8s/overlays/dev/replay-job.yaml"),
])
def test_kubernetes_jobs_run_the_same_commands(compose: dict[str, Any], name: str,
                                               manifest: str) -> None:
    job = yaml.safe_load((REPO / manifest).read_text("utf-8"))
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == compose["services"][name]["command"]
    kustomization = yaml.safe_load((REPO / "deploy/k8s/base/kustomization.yaml").read_text())
    (env_map,) = [g for g in kustomization["configMapGenerator"] if g["name"] == "degflex-env"]
    assert container["envFrom"] == [{"configMapRef": {"name": "degflex-env"}}]
    env = {lit.split("=", 1)[0] for lit in env_map["literals"]}
    env |= {e["name"] for e in container.get("env", [])}
    assert set(ONE_SHOT_COMMANDS[name][1].ENV) <= env
