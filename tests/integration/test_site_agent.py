"""The site agent through real Kafka with the Slurm actuator on a fake `scontrol`/`squeue`:
commands for its site applied once, a command it cannot apply dead-lettered with its reason,
other sites' commands left alone, the end of the window applied on the clock tick, and a
restart that rebuilds state from the topics without touching the scheduler again."""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from contracts.events import ClockAdvanced, CommandAction, SiteCommandIssued
from contracts.topics import CLOCK, COMMANDS, dead_letter_topic
from services.common.codec import encode, envelope
from services.replay.driver import create_topics
from services.site_agent.bootstrap import bootstrap
from services.site_agent.settings import SiteAgentSettings
from tests.fake_slurm import install
from tests.integration.streams import poll_until, produce, start, stop

pytestmark = pytest.mark.kafka

DAY = datetime(2025, 11, 17, tzinfo=UTC)
CAMBRIDGE, MANCHESTER = "cambridge-east", "manchester"


def at(hhmm: str) -> datetime:
    h, m = hhmm.split(":")
    return DAY + timedelta(hours=int(h), minutes=int(m))


def command(cid: str, action: CommandAction, job: str | None, part: str | None,
            site: str = CAMBRIDGE, kw: float = 300) -> SiteCommandIssued:
    return SiteCommandIssued(command_id=cid, site_id=site, action=action, power_kw=kw,
                             start=at("14:00"), end=at("16:00"), job_id=job, part_id=part,
                             event_id="stress-uk-east-1400", reason=f"integration test {cid}")


def record(c: SiteCommandIssued, message_id: str | None = None) -> bytes:
    return encode(envelope(c, id=message_id or c.command_id, time=at("14:00"), source="test"))


def tick(hhmm: str) -> bytes:
    t = ClockAdvanced(now=at(hhmm), day_start=at("00:00"), day_end=at("00:00") + timedelta(1))
    return encode(envelope(t, id=f"tick-{hhmm}", time=at(hhmm), source="test"))


async def until(check: Callable[[], bool], what: str, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def counter(runner: Any, name: str, **labels: str) -> float:
    value = runner.metrics.registry.get_sample_value(name, labels)
    return value or 0.0


async def test_site_agent_applies_commands_once_and_dead_letters_what_it_cannot(
        kafka_bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install(tmp_path / "bin")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    state, calls_log = tmp_path / "jobs.json", tmp_path / "calls.jsonl"
    monkeypatch.setenv("FAKE_SLURM_STATE", str(state))
    monkeypatch.setenv("FAKE_SLURM_CALLS", str(calls_log))
    state.write_text(json.dumps([{"job_id": "4242", "array_job_id": "4242", "name": "job-a.a1",
                                  "state": "RUNNING", "reason": "None", "throttle": None}]))

    def calls() -> list[list[str]]:
        text = calls_log.read_text() if calls_log.exists() else ""
        return [json.loads(line) for line in text.splitlines()]

    prefix = f"agent.{uuid.uuid4().hex[:8]}."
    await create_topics(kafka_bootstrap, prefix)
    settings = SiteAgentSettings(bootstrap_servers=kafka_bootstrap, topic_prefix=prefix,
                                 site_ids=CAMBRIDGE, actuator="slurm",
                                 battery_actuator="simulator", actuation_timeout_s=10)
    pause = command("cmd-pause-a1", CommandAction.PAUSE_JOB, "job-a", "a1")
    battery = command("cmd-battery", CommandAction.BATTERY_DISCHARGE, None, None, kw=150)
    unknown = command("cmd-pause-z1", CommandAction.PAUSE_JOB, "job-z", "z1")
    elsewhere = command("cmd-start-a1", CommandAction.START_JOB, "job-a", "a1", MANCHESTER)
    dlq = prefix + dead_letter_topic("site-agent")

    runner = bootstrap(settings)
    task = await start(runner)
    try:
        await produce(kafka_bootstrap, prefix + COMMANDS.name,
                      [record(pause), record(battery), record(pause, "resent-with-a-new-id"),
                       record(unknown)], key=CAMBRIDGE.encode())
        await produce(kafka_bootstrap, prefix + COMMANDS.name, [record(elsewhere)],
                      key=MANCHESTER.encode())
        dead = await poll_until(kafka_bootstrap, dlq, lambda rs: len(rs) >= 1)
        await until(lambda: counter(runner, "stream_messages_consumed_total",
                                    topic=prefix + COMMANDS.name, type="site.command.issued",
                                    outcome="ok") == 4, "the five commands handled")
    finally:
        await stop(runner, task)
    squeue_a1 = ["squeue", "--noheader", "--name=job-a.a1", "--format=%F|%T|%r"]
    squeue_z1 = ["squeue", "--noheader", "--name=job-z.z1", "--format=%F|%T|%r"]
    assert calls() == [squeue_a1, ["scontrol", "suspend", "4242"], squeue_z1]
    assert len(dead) == 1
    headers = {k: v.decode() for k, v in dead[0].headers}
    assert headers["dlq.reason"] == "actuation_failed"
    assert headers["dlq.error"] == (f"pause job-z/z1 at {CAMBRIDGE} (commands cmd-pause-z1): "
                                    "failed: no Slurm job named 'job-z.z1'")
    assert dead[0].value == record(unknown)
    assert counter(runner, "site_agent_actuations_total", actuator="slurm", operation="pause",
                   outcome="applied") == 1
    assert counter(runner, "site_agent_actuations_total", actuator="simulator",
                   operation="set_battery", outcome="applied") == 1
    assert counter(runner, "site_agent_battery_setpoint_kw", site=CAMBRIDGE) == 150

    # a restarted agent re-reads the topics without acting, then ends the window on the tick
    runner2 = bootstrap(settings)
    task2 = await start(runner2)
    try:
        assert counter(runner2, "stream_messages_replayed_total",
                       topic=prefix + COMMANDS.name) == 5
        assert len(calls()) == 3
        await produce(kafka_bootstrap, prefix + CLOCK.name, [tick("15:00"), tick("16:00")],
                      key=b"day")
        await until(lambda: len(calls()) >= 6, "the resumes")
        # the simulator's battery is in memory: a fresh one is already at 0
        await until(lambda: counter(runner2, "site_agent_actuations_total",
                                    actuator="simulator", operation="set_battery",
                                    outcome="already") == 1, "the battery back to 0")
    finally:
        await stop(runner2, task2)
    assert calls()[3:] == [squeue_a1, ["scontrol", "resume", "4242"], squeue_z1]
    assert json.loads(state.read_text())[0]["state"] == "RUNNING"
    assert counter(runner2, "site_agent_battery_setpoint_kw", site=CAMBRIDGE) == 0
    # the restarted agent cannot know the z1 pause was dead-lettered: it tries its end too,
    # and says so (a resume of a job that exists but is not paused would be `already`)
    dead = await poll_until(kafka_bootstrap, dlq, lambda rs: len(rs) >= 2)
    assert len(dead) == 2
    headers = {k: v.decode() for k, v in dead[1].headers}
    assert headers["dlq.source.topic"] == prefix + CLOCK.name
    assert headers["dlq.error"] == (f"resume job-z/z1 at {CAMBRIDGE} (commands cmd-pause-z1): "
                                    "failed: no Slurm job named 'job-z.z1'")
