"""Run a real single-node Kafka broker (KRaft) from Maven-fetched jars, for local runs and tests.

Stdlib only: the readiness check imports aiokafka lazily and falls back to a TCP probe without it.
Command line: ``python -m services.common.localkafka jars|start|stop|status [--port N] [--home DIR]``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import fcntl
import hashlib
import os
import random
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY_DIR = REPO_ROOT / "deploy" / "kafka"
POM = DEPLOY_DIR / "pom.xml"
PROPERTIES_TEMPLATE = DEPLOY_DIR / "server.properties.template"
LOG4J_CONFIG = DEPLOY_DIR / "log4j2.yaml"
DEFAULT_HOME = REPO_ROOT / ".run" / "kafka"
DEFAULT_LIBS_DIR = REPO_ROOT / ".cache" / "kafka" / "libs"
BOOTSTRAP_ENV = "KAFKA_BOOTSTRAP_SERVERS"

_POM_STAMP = ".pom.sha256"
_LOG_TAIL_LINES = 40
# Brokers started by this process, so their exit is reaped instead of lingering as zombies.
_children: dict[int, subprocess.Popen[bytes]] = {}


class LocalKafkaError(RuntimeError):
    """The local broker could not be prepared, started or stopped."""


def bootstrap_servers_from_env() -> str | None:
    """Return ``$KAFKA_BOOTSTRAP_SERVERS`` when it is set to something non-blank."""
    value = os.environ.get(BOOTSTRAP_ENV, "").strip()
    return value or None


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def restartable_port(low: int = 20_000, high: int = 32_000) -> int:
    """A free loopback port below the kernel's ephemeral range (32768 up by default): no
    client socket or ``bind(0)`` elsewhere is handed it while a broker that owns it is down
    for a restart (tests that stop and start a broker on the same ports)."""
    rng = random.Random()
    while True:
        port = rng.randrange(low, high)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


def start_unless_env() -> tuple[str, LocalBroker | None]:
    """Bootstrap servers from $KAFKA_BOOTSTRAP_SERVERS, else a throwaway local broker on free
    ports in a temporary folder (returned, for the caller to stop)."""
    from_env = bootstrap_servers_from_env()
    if from_env is not None:
        return from_env, None
    broker = LocalBroker(home=Path(tempfile.mkdtemp(prefix="degflex-kafka-")), port=free_port(),
                         controller_port=free_port())
    return broker.start(), broker


@dataclass(frozen=True)
class LocalBroker:
    """One KRaft broker+controller node; data, logs and pid file live under ``home``."""

    home: Path = DEFAULT_HOME
    port: int = 19092
    controller_port: int = 19093
    libs_dir: Path = DEFAULT_LIBS_DIR
    jvm_options: tuple[str, ...] = ("-Xmx512m", "-Xms128m", "-XX:+ExitOnOutOfMemoryError")

    def __post_init__(self) -> None:
        object.__setattr__(self, "home", Path(self.home).resolve())
        object.__setattr__(self, "libs_dir", Path(self.libs_dir).resolve())
        if self.port == self.controller_port:
            raise ValueError("port and controller_port must differ")

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def pid_file(self) -> Path:
        return self.home / "broker.pid"

    @property
    def properties_file(self) -> Path:
        return self.home / "server.properties"

    @property
    def server_log(self) -> Path:
        return self.logs_dir / "server.log"

    @property
    def console_log(self) -> Path:
        return self.logs_dir / "console.log"

    def ensure_jars(self) -> Path:
        """Fetch the jars pinned in deploy/kafka/pom.xml into ``libs_dir`` unless already there."""
        digest = hashlib.sha256(POM.read_bytes()).hexdigest()
        if _read_text(self.libs_dir / _POM_STAMP) == digest:
            return self.libs_dir
        mvn = shutil.which("mvn")
        if mvn is None:
            raise LocalKafkaError(
                f"Kafka jars are missing in {self.libs_dir} and `mvn` is not on PATH "
                "(Debian: apt-get install maven)"
            )
        self.libs_dir.parent.mkdir(parents=True, exist_ok=True)
        with _file_lock(self.libs_dir.parent / f".{self.libs_dir.name}.lock"):
            if _read_text(self.libs_dir / _POM_STAMP) == digest:
                return self.libs_dir
            partial = self.libs_dir.with_name(self.libs_dir.name + ".partial")
            shutil.rmtree(partial, ignore_errors=True)
            _progress(f"fetching Kafka jars with Maven into {self.libs_dir} ...")
            started = time.monotonic()
            result = subprocess.run(
                [
                    mvn, "-q", "-B", "-f", str(POM), "dependency:copy-dependencies",
                    f"-DoutputDirectory={partial}", "-DincludeScope=runtime",
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                check=False,
            )
            if result.returncode != 0:
                shutil.rmtree(partial, ignore_errors=True)
                raise LocalKafkaError(
                    f"mvn exited with {result.returncode} while fetching Kafka jars:\n"
                    + _tail(result.stdout)
                )
            (partial / _POM_STAMP).write_text(digest + "\n")
            shutil.rmtree(self.libs_dir, ignore_errors=True)
            partial.rename(self.libs_dir)
            count = len(list(self.libs_dir.glob("*.jar")))
            _progress(f"{count} jars fetched in {time.monotonic() - started:.1f} s")
        return self.libs_dir

    def start(self, timeout_s: float = 60) -> str:
        """Start the broker unless it already runs; return its bootstrap address once it is ready.

        Storage is formatted on first start. The JVM runs detached in its own process group, so it
        outlives the caller until ``stop``. Raises LocalKafkaError with the broker's log tail when
        it dies or is not ready within ``timeout_s``; a broker that timed out is stopped.
        """
        deadline = time.monotonic() + timeout_s
        pid = self._running_pid()
        if pid is not None:
            self._wait_until_ready(pid, deadline, timeout_s)
            return self.bootstrap_servers
        self.pid_file.unlink(missing_ok=True)
        java = shutil.which("java")
        if java is None:
            raise LocalKafkaError("`java` is not on PATH (Debian: apt-get install openjdk-17-jre-headless)")
        for port in (self.port, self.controller_port):
            if _accepts_connections(port):
                raise LocalKafkaError(
                    f"port {port} is already in use by another process; "
                    "stop it or choose other ports (--port)"
                )
        self.ensure_jars()
        self._write_properties()
        if not (self.data_dir / "meta.properties").exists():
            self._format_storage(java)
        self.server_log.unlink(missing_ok=True)
        with self.console_log.open("wb") as console:
            process = subprocess.Popen(
                [java, *self._java_args(), "kafka.Kafka", str(self.properties_file)],
                cwd=self.home,
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _children[process.pid] = process
        self.pid_file.write_text(f"{process.pid}\n")
        _progress(f"broker starting (pid {process.pid}, logs in {self.logs_dir})")
        started = time.monotonic()
        try:
            self._wait_until_ready(process.pid, deadline, timeout_s)
        except BaseException:  # also Ctrl-C: never leave a half-started broker behind
            self.stop()
            raise
        _progress(f"broker ready at {self.bootstrap_servers} in {time.monotonic() - started:.1f} s")
        return self.bootstrap_servers

    def stop(self, timeout_s: float = 30) -> None:
        """Stop the broker: SIGTERM to its process group, SIGKILL after ``timeout_s``."""
        pid = self._running_pid()
        if pid is not None:
            for sig, wait_s in ((signal.SIGTERM, timeout_s), (signal.SIGKILL, 10.0)):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, sig)
                if _wait_for_exit(pid, wait_s):
                    break
            else:
                raise LocalKafkaError(f"broker pid {pid} survived SIGKILL")
            _children.pop(pid, None)
        self.pid_file.unlink(missing_ok=True)

    def kill(self) -> None:
        """SIGKILL the broker at once: an unclean stop (no controlled shutdown, no final
        checkpoint), as a crashed machine's broker would; ``start`` recovers its logs."""
        pid = self._running_pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            if not _wait_for_exit(pid, 10.0):
                raise LocalKafkaError(f"broker pid {pid} survived SIGKILL")
            _children.pop(pid, None)
        self.pid_file.unlink(missing_ok=True)

    def status(self) -> bool:
        """True while the broker process recorded in the pid file is alive."""
        return self._running_pid() is not None

    def _running_pid(self) -> int | None:
        text = _read_text(self.pid_file)
        if text is None or not text.isdigit():
            return None
        pid = int(text)
        if not _is_alive(pid):
            return None
        cmdline = _read_bytes(Path(f"/proc/{pid}/cmdline"))
        if cmdline is not None and str(self.properties_file).encode() not in cmdline:
            return None  # the pid was reused by an unrelated process
        return pid

    def _wait_until_ready(self, pid: int, deadline: float, timeout_s: float) -> None:
        reason = "not tried yet"
        while True:
            if not _is_alive(pid):
                _children.pop(pid, None)
                self.pid_file.unlink(missing_ok=True)
                raise LocalKafkaError(f"Kafka broker exited during start-up.\n{self._log_tail()}")
            if not _accepts_connections(self.port):
                reason = f"nothing listens on port {self.port} yet"
            else:
                reason = _metadata_problem(self.bootstrap_servers)
                if reason is None:
                    return
            if time.monotonic() >= deadline:
                raise LocalKafkaError(
                    f"Kafka broker not ready after {timeout_s:g} s ({reason}).\n{self._log_tail()}"
                )
            time.sleep(0.2)

    def _write_properties(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        template = string.Template(PROPERTIES_TEMPLATE.read_text())
        self.properties_file.write_text(
            template.substitute(
                port=self.port, controller_port=self.controller_port, log_dirs=self.data_dir
            )
        )

    def _format_storage(self, java: str) -> None:
        result = subprocess.run(
            [
                java, *self._java_args(), "kafka.tools.StorageTool", "format",
                "--cluster-id", _new_cluster_id(), "--config", str(self.properties_file),
                "--ignore-formatted",
            ],
            cwd=self.home,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise LocalKafkaError(f"formatting Kafka storage failed:\n{_tail(result.stdout)}")

    def _java_args(self) -> list[str]:
        return [
            *self.jvm_options,
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
            f"-Dkafka.logs.dir={self.logs_dir}",
            "-cp",
            f"{self.libs_dir}/*",
        ]

    def _log_tail(self) -> str:
        parts = []
        for log in (self.console_log, self.server_log):
            text = _read_text(log)
            if text:
                parts.append(f"--- last lines of {log} ---\n{_tail(text)}")
        return "\n".join(parts) or f"(no broker output in {self.logs_dir})"


def _metadata_problem(bootstrap: str, timeout_s: float = 5.0) -> str | None:
    """Ask the broker for cluster metadata; None when it lists a broker and a controller.

    Runs on a fresh event loop in a helper thread, so it works whether or not the caller is
    inside a running loop. Without aiokafka installed the TCP probe already done must suffice.
    """
    try:
        from aiokafka.admin import AIOKafkaAdminClient
        from aiokafka.errors import KafkaError
    except ImportError:
        return None

    async def probe() -> str | None:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=bootstrap, request_timeout_ms=int(timeout_s * 1000)
        )
        try:
            await admin.start()
            cluster = await admin.describe_cluster()
        finally:
            await admin.close()
        if not cluster.get("brokers") or cluster.get("controller_id", -1) < 0:
            return "metadata lists no broker or controller yet"
        return None

    outcome: list[str | None] = []

    def run() -> None:
        try:
            outcome.append(asyncio.run(asyncio.wait_for(probe(), timeout_s)))
        except (KafkaError, OSError, TimeoutError) as exc:
            outcome.append(f"metadata request failed: {exc!r}")

    thread = threading.Thread(target=run, name="localkafka-readiness", daemon=True)
    thread.start()
    thread.join(timeout_s + 5)
    return outcome[0] if outcome else "metadata request hung"


def _new_cluster_id() -> str:
    """A Kafka cluster id: 16 random bytes, URL-safe base64 without padding, not starting '-'."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id


def _accepts_connections(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _is_alive(pid: int) -> bool:
    child = _children.get(pid)
    if child is not None:
        return child.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = _read_text(Path(f"/proc/{pid}/stat"))
    return stat is None or stat.rpartition(")")[2].split()[0] != "Z"


def _wait_for_exit(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while _is_alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(errors="replace").strip()
    except FileNotFoundError:
        return None


def _read_bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _tail(text: str, lines: int = _LOG_TAIL_LINES) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def _progress(message: str) -> None:
    print(f"localkafka: {message}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m services.common.localkafka",
        description="Manage the local single-node Kafka broker.",
    )
    parser.add_argument("command", choices=("jars", "start", "stop", "status"))
    parser.add_argument("--port", type=int, default=19092, help="client port (default 19092)")
    parser.add_argument("--controller-port", type=int, help="KRaft controller port (default port+1)")
    parser.add_argument("--home", type=Path, default=DEFAULT_HOME, help="data, logs and pid file")
    parser.add_argument("--libs", type=Path, default=DEFAULT_LIBS_DIR, help="broker jars")
    parser.add_argument("--timeout", type=float, default=60, help="seconds to wait (start/stop)")
    args = parser.parse_args(argv)
    broker = LocalBroker(
        home=args.home,
        port=args.port,
        controller_port=args.controller_port or args.port + 1,
        libs_dir=args.libs,
    )
    try:
        if args.command == "jars":
            print(broker.ensure_jars())
        elif args.command == "start":
            print(broker.start(timeout_s=args.timeout))
        elif args.command == "stop":
            broker.stop(timeout_s=args.timeout)
            print("stopped")
        elif broker.status():
            print(f"running {broker.bootstrap_servers}")
        else:
            print("stopped")
            return 3
    except LocalKafkaError as exc:
        print(f"localkafka: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
