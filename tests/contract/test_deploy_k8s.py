"""deploy/k8s: both overlays render with kustomize, every object validates against the Kubernetes
schemas (kubernetes-validate, strict) and the ServiceMonitor against its vendored CRD schema, and
the Deployments carry the probes, resources and security settings the services need."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator

from contracts.topics import SERVICES

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
SCHEMAS = Path(__file__).resolve().parent / "fixtures" / "schemas"
SERVICEMONITOR_SHA256 = "e7ca495511c0e18fb0f4497d7de38b83e775f97d5624153d4de5025f9d0ab9cb"
KUBERNETES_VERSION = "1.34.0"
OVERLAYS = ("dev", "prod")
Doc = dict[str, Any]


def kustomize_command() -> list[str] | None:
    """A real kustomize: the binary (PATH, then Go's bin dir), else kubectl's built-in one."""
    gopath = Path(os.environ.get("GOPATH", Path.home() / "go"))
    for candidate in (shutil.which("kustomize"), gopath / "bin" / "kustomize"):
        if candidate and Path(candidate).is_file():
            return [str(candidate), "build"]
    kubectl = shutil.which("kubectl")
    return [kubectl, "kustomize"] if kubectl else None


@cache
def render(overlay: str) -> tuple[Doc, ...]:
    command = kustomize_command()
    if command is None:
        pytest.skip("no kustomize: go install sigs.k8s.io/kustomize/kustomize/v5@v5.8.2 "
                    "(or kubectl) is needed to render deploy/k8s")
    result = subprocess.run([*command, str(K8S / "overlays" / overlay)], check=False,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return tuple(d for d in yaml.safe_load_all(result.stdout) if d)


def of_kind(docs: tuple[Doc, ...], kind: str) -> dict[str, Doc]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def containers(doc: Doc) -> list[Doc]:
    return list(doc["spec"]["template"]["spec"]["containers"])


@pytest.fixture(scope="module")
def kubernetes_validate() -> Any:
    return pytest.importorskip("kubernetes_validate",
                               reason="kubernetes-validate is in the test extras")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_objects_are_valid_kubernetes(overlay: str, kubernetes_validate: Any) -> None:
    errors = []
    for doc in render(overlay):
        if doc["apiVersion"].startswith("monitoring.coreos.com/"):
            continue
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{doc['kind']}/{doc['metadata']['name']}: {exc.message}")
    assert errors == []


def test_vendored_servicemonitor_schema_is_the_pinned_file() -> None:
    data = (SCHEMAS / "servicemonitor_v1.json").read_bytes()
    assert hashlib.sha256(data).hexdigest() == SERVICEMONITOR_SHA256


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_servicemonitor_matches_its_crd_schema_and_the_services(overlay: str) -> None:
    docs = render(overlay)
    schema = json.loads((SCHEMAS / "servicemonitor_v1.json").read_text("utf-8"))
    (monitor,) = of_kind(docs, "ServiceMonitor").values()
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    errors = [e.message for e in Draft7Validator(schema).iter_errors(monitor)]
    assert errors == []
    selector = monitor["spec"]["selector"]["matchLabels"]
    selected = {name for name, svc in of_kind(docs, "Service").items()
                if selector.items() <= svc["metadata"]["labels"].items()}
    assert selected == set(SERVICES)
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics"
    for name in SERVICES:
        ports = {p["name"] for p in of_kind(docs, "Service")[name]["spec"]["ports"]}
        assert endpoint["port"] in ports
    assert {"targetLabel": "part_of", "replacement": "degflex"} in endpoint["relabelings"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_service_has_a_deployment_service_and_disruption_budget(overlay: str) -> None:
    docs = render(overlay)
    deployments = of_kind(docs, "Deployment")
    assert set(deployments) == set(SERVICES)
    for name, deployment in deployments.items():
        pods = deployment["spec"]["template"]["metadata"]["labels"]
        for kind in ("Service", "PodDisruptionBudget"):
            other = of_kind(docs, kind)[name]
            selector = other["spec"]["selector"]
            selector = selector.get("matchLabels", selector)
            assert selector.items() <= pods.items(), (kind, name)
        (container,) = containers(deployment)
        assert container["command"] == ["python", "-m", f"services.{name.replace('-', '_')}"]
        assert deployment["spec"]["strategy"] == {"type": "Recreate"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_deployments_probe_health_and_readiness(overlay: str) -> None:
    for name, deployment in of_kind(render(overlay), "Deployment").items():
        (container,) = containers(deployment)
        port_names = {p["name"] for p in container["ports"]}
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
            get = container[probe]["httpGet"]
            assert get["path"] == path, (name, probe)
            assert get["port"] in port_names, (name, probe)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_deployments_set_requests_limits_and_run_locked_down(overlay: str) -> None:
    docs = render(overlay)
    for kind in ("Deployment", "Job"):
        for name, workload in of_kind(docs, kind).items():
            pod = workload["spec"]["template"]["spec"]
            assert pod["securityContext"]["runAsNonRoot"] is True, name
            assert pod["securityContext"]["runAsUser"] >= 1000, name
            for container in containers(workload):
                resources = container["resources"]
                assert {"cpu", "memory"} <= resources["requests"].keys(), name
                assert {"cpu", "memory"} <= resources["limits"].keys(), name
                security = container["securityContext"]
                assert security["readOnlyRootFilesystem"] is True, name
                assert security["allowPrivilegeEscalation"] is False, name
                assert security["capabilities"]["drop"] == ["ALL"], name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_containers_get_the_common_settings(overlay: str) -> None:
    docs = render(overlay)
    (env_name,) = [n for n in of_kind(docs, "ConfigMap") if n.startswith("degflex-env-")]
    env = of_kind(docs, "ConfigMap")[env_name]["data"]
    assert env["DEGFLEX_HTTP_HOST"] == "0.0.0.0"
    for kind in ("Deployment", "Job"):
        for workload in of_kind(docs, kind).values():
            for container in containers(workload):
                assert {"configMapRef": {"name": env_name}} in container["envFrom"]
                if "ports" in container:
                    assert container["ports"][0]["containerPort"] == int(env["DEGFLEX_HTTP_PORT"])
    grid = of_kind(docs, "Deployment")["grid-signal"]
    mounts = {m["mountPath"] for m in containers(grid)[0]["volumeMounts"]}
    assert str(Path(env["DEGFLEX_SCENARIO"]).parent) in mounts


def test_base_scenario_is_the_seed_scenario() -> None:
    assert (K8S / "base" / "scenario.yaml").read_bytes() == (
        REPO / "scenarios" / "seed-cambridge-manchester.yaml").read_bytes()


def test_dev_runs_kafka_in_cluster_with_small_limits() -> None:
    docs = render("dev")
    kafka = of_kind(docs, "StatefulSet")["kafka"]
    (container,) = containers(kafka)
    assert container["image"] == "apache/kafka:4.1.1"
    assert kafka["spec"]["template"]["spec"]["enableServiceLinks"] is False
    assert of_kind(docs, "Service")["kafka"]["spec"]["clusterIP"] == "None"
    (env_name,) = [n for n in of_kind(docs, "ConfigMap") if n.startswith("degflex-env-")]
    assert of_kind(docs, "ConfigMap")[env_name]["data"]["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
    for deployment in of_kind(docs, "Deployment").values():
        assert deployment["spec"]["replicas"] == 1
        assert containers(deployment)[0]["resources"]["limits"]["memory"] in {"256Mi", "512Mi"}
    assert {"degflex-topics", "degflex-replay"} == set(of_kind(docs, "Job"))


def test_prod_uses_external_kafka_and_creates_no_topics() -> None:
    docs = render("prod")
    assert "StatefulSet" not in {d["kind"] for d in docs}
    assert of_kind(docs, "Job") == {}
    (env_name,) = [n for n in of_kind(docs, "ConfigMap") if n.startswith("degflex-env-")]
    bootstrap = of_kind(docs, "ConfigMap")[env_name]["data"]["KAFKA_BOOTSTRAP_SERVERS"]
    assert bootstrap != "kafka:9092" and bootstrap.endswith(":9092")
    for deployment in of_kind(docs, "Deployment").values():
        assert containers(deployment)[0]["image"].endswith(":0.1.0")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_everything_lands_in_one_namespace(overlay: str) -> None:
    docs = render(overlay)
    namespaces = {d["metadata"].get("namespace") for d in docs if d["kind"] != "Namespace"}
    assert namespaces == {"degflex"}
    assert set(of_kind(docs, "Namespace")) == {"degflex"}
