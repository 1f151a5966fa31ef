"""Slurm actuator: `scontrol suspend|resume|requeuehold|release` and job-array throttling
(`scontrol update JobId=<id> ArrayTaskThrottle=<n>`), through the CLI.

A workload is every job named by `job_name` (default `{job_id}.{part_id}`, or `{job_id}` for a
command without a part), found with `squeue --name`. Each call runs without a shell, with a
timeout, and a non-zero exit becomes a failed result carrying the tool's stderr. Before acting,
the job's state is read, so an operation that finds the state it asks for does nothing.

| operation | `pause_mode=suspend` (default) | `requeue` | `throttle` (job arrays) |
|---|---|---|---|
| pause | `suspend` running jobs | `requeuehold` running/suspended | `ArrayTaskThrottle=throttle_tasks` |
| resume | `resume` suspended jobs | `release` held jobs | throttle back to what it was |
| migrate out | `requeuehold` running/suspended jobs | same | same |
| migrate in | `release` held jobs (the standby copy was submitted `--hold`) | same | same |
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from services.site_agent.actuation import (
    ActuationError,
    ActuationResult,
    Operation,
    OpKind,
    Outcome,
    Workload,
    unsupported,
)

PauseMode = Literal["suspend", "requeue", "throttle"]
THROTTLE = re.compile(r"(?:^|\s)ArrayTaskThrottle=(\d+)(?:\s|$)")


@dataclass(frozen=True)
class SlurmJob:
    array_job_id: str
    state: str
    reason: str

    @property
    def held(self) -> bool:
        return self.state == "PENDING" and self.reason.startswith("JobHeld")


@dataclass
class SlurmActuator:
    scontrol: str = "scontrol"
    squeue: str = "squeue"
    pause_mode: PauseMode = "suspend"
    throttle_tasks: int = 1
    job_name: str = "{job_id}.{part_id}"
    timeout_s: float = 10.0
    name: str = "slurm"
    throttles: dict[str, int] = field(default_factory=dict)
    """Array throttle before our pause, per array job id (in memory: lost on restart)."""

    def _name(self, w: Workload) -> str:
        name = (self.job_name.format(job_id=w.job_id, part_id=w.part_id) if w.part_id
                else w.job_id)
        if not name or "," in name or any(ch.isspace() for ch in name):
            raise ActuationError(f"job name {name!r} cannot be matched with squeue --name")
        return name

    def _run(self, argv: Sequence[str], calls: list[str] | None) -> str:
        """Run one CLI call; a missing tool, a timeout or a non-zero exit is an ActuationError."""
        line = " ".join(argv)
        if calls is not None:
            calls.append(line)
        try:
            done = subprocess.run(list(argv), capture_output=True, text=True,
                                  timeout=self.timeout_s, check=False, shell=False)
        except FileNotFoundError as exc:
            raise ActuationError(f"{argv[0]} not found on PATH") from exc
        except subprocess.TimeoutExpired as exc:
            raise ActuationError(f"`{line}` timed out after {self.timeout_s:g} s") from exc
        if done.returncode != 0:
            err = (done.stderr or done.stdout).strip().splitlines()
            raise ActuationError(f"`{line}` exited {done.returncode}: "
                                 f"{err[-1] if err else 'no output'}")
        return done.stdout

    def jobs(self, w: Workload) -> list[SlurmJob]:
        """The workload's jobs, one per array (or plain) job id, with the state that matters:
        RUNNING if any task runs, else SUSPENDED if any is, else the first task's."""
        out = self._run([self.squeue, "--noheader", f"--name={self._name(w)}",
                         "--format=%F|%T|%r"], None)
        by_id: dict[str, list[SlurmJob]] = {}
        for line in out.splitlines():
            if not line.strip():
                continue
            parts = line.strip().split("|")
            if len(parts) != 3:
                raise ActuationError(f"unexpected squeue line {line!r}")
            by_id.setdefault(parts[0], []).append(SlurmJob(*parts))
        return [next((t for s in ("RUNNING", "SUSPENDED") for t in tasks if t.state == s),
                     tasks[0]) for tasks in by_id.values()]

    def _throttle_of(self, jid: str) -> int:
        out = self._run([self.scontrol, "show", "job", jid, "--oneliner"], None)
        m = THROTTLE.search(out.splitlines()[0] if out else "")
        if m is None:
            raise ActuationError(f"job {jid} is not a job array: throttling needs one")
        return int(m.group(1))

    def describe(self, op: Operation) -> tuple[str, ...]:
        if op.kind == OpKind.SET_BATTERY or op.workload is None:
            return ()
        name = self._name(op.workload)
        verb = self._verb(op.kind)
        if verb == "throttle":
            n = self.throttle_tasks if op.kind == OpKind.PAUSE else "<previous>"
            return (f"{self.scontrol} update JobId=<array of {name}> ArrayTaskThrottle={n}",)
        return (f"{self.scontrol} {verb} <jobs named {name}>",)

    def _verb(self, kind: OpKind) -> str:
        if kind == OpKind.MIGRATE_OUT:
            return "requeuehold"
        if kind == OpKind.MIGRATE_IN:
            return "release"
        if self.pause_mode == "throttle":
            return "throttle"
        if self.pause_mode == "requeue":
            return "requeuehold" if kind == OpKind.PAUSE else "release"
        return "suspend" if kind == OpKind.PAUSE else "resume"

    def apply(self, op: Operation) -> ActuationResult:
        if op.kind == OpKind.SET_BATTERY or op.workload is None:
            return unsupported(op, self.name)
        calls: list[str] = []
        try:
            jobs = self.jobs(op.workload)
            if not jobs:
                raise ActuationError(f"no Slurm job named {self._name(op.workload)!r}")
            verb = self._verb(op.kind)
            for job in jobs:
                self._act(verb, op.kind, job, calls)
        except ActuationError as exc:
            return ActuationResult(op, Outcome.FAILED, str(exc), tuple(calls))
        return ActuationResult(op, Outcome.APPLIED if calls else Outcome.ALREADY,
                               f"{len(jobs)} job(s): "
                               + ", ".join(f"{j.array_job_id} {j.state}" for j in jobs),
                               tuple(calls))

    def _act(self, verb: str, kind: OpKind, job: SlurmJob, calls: list[str]) -> None:
        jid = job.array_job_id
        if verb == "suspend" and job.state == "RUNNING":
            self._run([self.scontrol, "suspend", jid], calls)
        elif verb == "resume" and job.state == "SUSPENDED":
            self._run([self.scontrol, "resume", jid], calls)
        elif verb == "requeuehold" and job.state in ("RUNNING", "SUSPENDED"):
            self._run([self.scontrol, "requeuehold", jid], calls)
        elif verb == "release" and job.held:
            self._run([self.scontrol, "release", jid], calls)
        elif verb == "throttle":
            now = self._throttle_of(jid)
            if kind == OpKind.PAUSE:
                if now != self.throttle_tasks:
                    self.throttles.setdefault(jid, now)
                    self._run([self.scontrol, "update", f"JobId={jid}",
                               f"ArrayTaskThrottle={self.throttle_tasks}"], calls)
            else:
                back = self.throttles.pop(jid, 0)
                if now != back:
                    self._run([self.scontrol, "update", f"JobId={jid}",
                               f"ArrayTaskThrottle={back}"], calls)
