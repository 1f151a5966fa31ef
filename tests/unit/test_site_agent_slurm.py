"""The Slurm actuator against a fake `scontrol`/`squeue` on PATH that records every call and
moves job states as slurmctld would (tests/fake_slurm.py)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from services.site_agent.actuation import Operation, OpKind, Outcome, Workload
from services.site_agent.slurm import SlurmActuator
from tests.fake_slurm import install

A1 = Workload("job-a", "a1")
B1 = Workload("job-b", "b1")
SITE = "cambridge-east"


@dataclass
class FakeSlurm:
    state: Path
    calls_log: Path

    def jobs(self) -> dict[str, dict[str, Any]]:
        return {j["job_id"]: j for j in json.loads(self.state.read_text("utf-8"))}

    def calls(self) -> list[list[str]]:
        text = self.calls_log.read_text("utf-8") if self.calls_log.exists() else ""
        out = [json.loads(line) for line in text.splitlines()]
        self.calls_log.write_text("", "utf-8")
        return out


def job(job_id: str, name: str, state: str = "RUNNING", reason: str = "None", *,
        array: str | None = None, throttle: int | None = None) -> dict[str, Any]:
    return {"job_id": job_id, "array_job_id": array or job_id, "name": name, "state": state,
            "reason": reason, "throttle": throttle}


@pytest.fixture
def slurm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSlurm]:
    install(tmp_path / "bin")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    fake = FakeSlurm(tmp_path / "jobs.json", tmp_path / "calls.jsonl")
    monkeypatch.setenv("FAKE_SLURM_STATE", str(fake.state))
    monkeypatch.setenv("FAKE_SLURM_CALLS", str(fake.calls_log))
    fake.state.write_text(json.dumps([
        job("4242", "job-a.a1"),
        job("4301", "job-b.b1", array="4300", throttle=4),
        job("4302", "job-b.b1", array="4300", throttle=4),
        job("4303", "job-b.b1", "PENDING", "JobArrayTaskLimit", array="4300", throttle=4),
        job("5100", "job-c.c1", "PENDING", "JobHeldUser"),
    ]), "utf-8")
    yield fake


def op(kind: OpKind, w: Workload = A1) -> Operation:
    return Operation(kind, SITE, w)


SQUEUE_A1 = ["squeue", "--noheader", "--name=job-a.a1", "--format=%F|%T|%r"]


def test_pause_suspends_and_resume_resumes(slurm: FakeSlurm) -> None:
    act = SlurmActuator()
    r = act.apply(op(OpKind.PAUSE))
    assert (r.outcome, r.calls) == (Outcome.APPLIED, ("scontrol suspend 4242",))
    assert slurm.calls() == [SQUEUE_A1, ["scontrol", "suspend", "4242"]]
    assert slurm.jobs()["4242"]["state"] == "SUSPENDED"
    r = act.apply(op(OpKind.RESUME))
    assert r.outcome == Outcome.APPLIED
    assert slurm.calls() == [SQUEUE_A1, ["scontrol", "resume", "4242"]]
    assert slurm.jobs()["4242"]["state"] == "RUNNING"


def test_a_second_pause_only_looks(slurm: FakeSlurm) -> None:
    act = SlurmActuator()
    act.apply(op(OpKind.PAUSE))
    slurm.calls()
    r = act.apply(op(OpKind.PAUSE))
    assert (r.outcome, r.calls, r.detail) == (Outcome.ALREADY, (), "1 job(s): 4242 SUSPENDED")
    assert slurm.calls() == [SQUEUE_A1]


def test_requeue_mode_requeues_held_and_releases(slurm: FakeSlurm) -> None:
    act = SlurmActuator(pause_mode="requeue")
    assert act.apply(op(OpKind.PAUSE)).calls == ("scontrol requeuehold 4242",)
    assert (slurm.jobs()["4242"]["state"], slurm.jobs()["4242"]["reason"]) == \
        ("PENDING", "JobHeldUser")
    assert act.apply(op(OpKind.RESUME)).calls == ("scontrol release 4242",)
    assert slurm.jobs()["4242"]["reason"] == "Priority"


def test_migrate_in_releases_the_held_standby_and_migrate_out_requeues_it(
        slurm: FakeSlurm) -> None:
    act = SlurmActuator()
    c1 = Workload("job-c", "c1")
    assert act.apply(op(OpKind.MIGRATE_IN, c1)).calls == ("scontrol release 5100",)
    assert act.apply(op(OpKind.MIGRATE_IN, c1)).outcome == Outcome.ALREADY
    assert slurm.jobs()["5100"]["reason"] == "Priority"  # released; the scheduler starts it:
    state = json.loads(slurm.state.read_text("utf-8"))
    next(j for j in state if j["job_id"] == "5100")["state"] = "RUNNING"
    slurm.state.write_text(json.dumps(state), "utf-8")
    assert act.apply(op(OpKind.MIGRATE_OUT, c1)).calls == ("scontrol requeuehold 5100",)
    assert slurm.jobs()["5100"]["reason"] == "JobHeldUser"


def test_throttle_mode_throttles_the_array_and_restores_its_limit(slurm: FakeSlurm) -> None:
    act = SlurmActuator(pause_mode="throttle", throttle_tasks=1)
    r = act.apply(op(OpKind.PAUSE, B1))
    assert r.calls == ("scontrol update JobId=4300 ArrayTaskThrottle=1",)
    assert slurm.calls() == [
        ["squeue", "--noheader", "--name=job-b.b1", "--format=%F|%T|%r"],
        ["scontrol", "show", "job", "4300", "--oneliner"],
        ["scontrol", "update", "JobId=4300", "ArrayTaskThrottle=1"]]
    assert {j["throttle"] for j in slurm.jobs().values() if j["array_job_id"] == "4300"} == {1}
    assert act.apply(op(OpKind.PAUSE, B1)).outcome == Outcome.ALREADY
    r = act.apply(op(OpKind.RESUME, B1))
    assert r.calls == ("scontrol update JobId=4300 ArrayTaskThrottle=4",)
    assert slurm.jobs()["4301"]["throttle"] == 4


def test_throttle_mode_refuses_a_job_that_is_not_an_array(slurm: FakeSlurm) -> None:
    r = SlurmActuator(pause_mode="throttle").apply(op(OpKind.PAUSE))
    assert (r.outcome, r.detail) == (Outcome.FAILED,
                                     "job 4242 is not a job array: throttling needs one")


def test_no_job_with_the_name_fails(slurm: FakeSlurm) -> None:
    r = SlurmActuator().apply(op(OpKind.PAUSE, Workload("job-z", "z1")))
    assert (r.outcome, r.detail) == (Outcome.FAILED, "no Slurm job named 'job-z.z1'")


def test_a_controller_that_does_not_answer_fails_with_the_tools_error(
        slurm: FakeSlurm, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_SLURM_DOWN", "1")
    r = SlurmActuator().apply(op(OpKind.PAUSE))
    assert r.outcome == Outcome.FAILED
    assert r.detail == ("`squeue --noheader --name=job-a.a1 --format=%F|%T|%r` exited 1: squeue: "
                        "error: slurm_load_jobs error: Unable to contact slurm controller "
                        "(connect failure)")


def test_a_hanging_call_times_out(slurm: FakeSlurm, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_SLURM_SLEEP", "5")
    r = SlurmActuator(timeout_s=0.3).apply(op(OpKind.PAUSE))
    assert r.outcome == Outcome.FAILED
    assert r.detail == "`squeue --noheader --name=job-a.a1 --format=%F|%T|%r` timed out after 0.3 s"


def test_a_missing_tool_is_named(tmp_path: Path) -> None:
    r = SlurmActuator(squeue=str(tmp_path / "no-squeue")).apply(op(OpKind.PAUSE))
    assert (r.outcome, r.detail) == (Outcome.FAILED, f"{tmp_path / 'no-squeue'} not found on PATH")


def test_names_that_squeue_cannot_match_are_refused(slurm: FakeSlurm) -> None:
    r = SlurmActuator().apply(op(OpKind.PAUSE, Workload("job a", "a1")))
    assert r.outcome == Outcome.FAILED and "cannot be matched" in r.detail
    assert slurm.calls() == []
