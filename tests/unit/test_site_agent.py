"""The site agent: what a site should be doing from its commands, applied through an actuator
idempotently; refusals with reasons; dry run; settings."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from pydantic import ValidationError

from contracts.events import CommandAction, SiteCommandIssued
from services.common.runner import HandlerRejected
from services.site_agent.actuation import (
    ActuationResult,
    Operation,
    OpKind,
    Outcome,
    Routed,
    Workload,
)
from services.site_agent.bootstrap import NoBattery, actuator
from services.site_agent.domain import IDLE, Target, operations, target_at
from services.site_agent.dry_run import DryRun
from services.site_agent.executor import bind
from services.site_agent.handlers import HANDLERS, AgentState
from services.site_agent.k8s import KubernetesActuator
from services.site_agent.settings import SiteAgentSettings
from services.site_agent.simulated import JobState, SimulatedSite
from services.site_agent.slurm import SlurmActuator

from .factories import CAMBRIDGE, MANCHESTER, STRESS_ID, at, env, inbound, tick

A1 = Workload("job-a", "a1")
B1 = Workload("job-b", "b1")


def command(n: int, action: CommandAction, start: str, end: str, *, site: str = CAMBRIDGE,
            job: Workload | None = A1, kw: float = 300,
            replaces: int | None = None) -> SiteCommandIssued:
    return SiteCommandIssued(
        command_id=f"cmd-{n}", site_id=site, action=action, power_kw=kw, start=at(start),
        end=at(end), job_id=job.job_id if job else None, part_id=job.part_id if job else None,
        event_id=STRESS_ID, reason=f"test command {n}",
        replaces=f"cmd-{replaces}" if replaces is not None else None)


def issued(c: SiteCommandIssued, time: str = "14:00") -> Any:
    return inbound(env(c, time=at(time), id=c.command_id))


class Agent:
    """The runner's view of the agent: bound handlers over a state, an actuator behind them."""

    def __init__(self, act: Any = None, sites: tuple[str, ...] = (CAMBRIDGE,)) -> None:
        self.act = act if act is not None else SimulatedSite()
        self.state = AgentState(frozenset(sites))
        self.handlers = bind(HANDLERS, self.act)

    def send(self, m: Any) -> None:
        self.handlers[m.kind](self.state, m)


# ---- domain -------------------------------------------------------------------------------------


def test_target_holds_a_job_while_any_pause_for_it_is_active() -> None:
    cmds = [command(1, CommandAction.PAUSE_JOB, "14:00", "16:00"),
            command(2, CommandAction.PAUSE_JOB, "15:00", "17:00")]
    assert target_at(cmds, at("13:59")).held == frozenset()
    assert target_at(cmds, at("14:00")).held == {A1}
    assert target_at(cmds, at("16:00")).held == {A1}
    assert target_at(cmds, at("17:00")).held == frozenset()


def test_battery_setpoint_is_discharge_minus_charge_of_the_active_commands() -> None:
    cmds = [command(1, CommandAction.BATTERY_DISCHARGE, "14:00", "16:00", job=None, kw=150),
            command(2, CommandAction.BATTERY_DISCHARGE, "15:00", "16:00", job=None, kw=50),
            command(3, CommandAction.BATTERY_CHARGE, "15:30", "16:30", job=None, kw=80)]
    assert target_at(cmds, at("14:30")).battery_kw == 150
    assert target_at(cmds, at("15:00")).battery_kw == 200
    assert target_at(cmds, at("15:45")).battery_kw == 120  # 150 + 50 - 80
    assert target_at(cmds, at("16:00")).battery_kw == -80


def test_operations_shed_load_first_and_name_their_commands() -> None:
    cmds = [command(1, CommandAction.PAUSE_JOB, "14:00", "16:00", job=B1),
            command(2, CommandAction.START_JOB, "10:00", "14:00", job=A1),
            command(3, CommandAction.BATTERY_DISCHARGE, "14:00", "16:00", job=None, kw=150)]
    before = target_at(cmds, at("13:00"))
    after = target_at(cmds, at("14:00"))
    ops = operations(CAMBRIDGE, cmds, before, after, at("13:00"), at("14:00"))
    assert [(o.kind, o.workload, o.command_ids) for o in ops] == [
        (OpKind.PAUSE, B1, ("cmd-1",)),
        (OpKind.MIGRATE_OUT, A1, ("cmd-2",)),
        (OpKind.SET_BATTERY, None, ("cmd-3",)),
    ]
    assert ops[2].battery_kw == 150 and ops[0].reason == "test command 1"


def test_no_operations_when_nothing_changes() -> None:
    assert operations(CAMBRIDGE, [], IDLE, Target(), None, at("12:00")) == ()


# ---- handlers + executor with the simulator ----------------------------------------------------


def test_a_pause_is_applied_when_it_arrives_and_resumed_at_its_end() -> None:
    agent = Agent()
    agent.send(issued(command(1, CommandAction.PAUSE_JOB, "14:00", "16:00")))
    assert agent.act.jobs[(CAMBRIDGE, A1)] == JobState.PAUSED
    agent.send(inbound(tick("15:59")))
    assert len(agent.act.log) == 1
    agent.send(inbound(tick("16:00")))
    assert agent.act.jobs[(CAMBRIDGE, A1)] == JobState.RUNNING
    assert [(r.operation.kind, r.outcome) for r in agent.act.log] == [
        (OpKind.PAUSE, Outcome.APPLIED), (OpKind.RESUME, Outcome.APPLIED)]
    assert agent.state.sites[CAMBRIDGE].commands == {}


def test_a_future_command_waits_for_its_start_in_event_time() -> None:
    agent = Agent()
    agent.send(issued(command(1, CommandAction.START_JOB, "14:00", "16:00", site=CAMBRIDGE),
                      time="13:00"))
    assert agent.act.log == []
    agent.send(inbound(tick("14:00")))
    agent.send(inbound(tick("18:00")))
    assert [r.operation.kind for r in agent.act.log] == [OpKind.MIGRATE_IN, OpKind.MIGRATE_OUT]
    assert agent.act.jobs[(CAMBRIDGE, A1)] == JobState.STANDBY


def test_overlapping_pauses_resume_only_when_the_last_one_ends() -> None:
    agent = Agent()
    agent.send(issued(command(1, CommandAction.PAUSE_JOB, "14:00", "16:00")))
    agent.send(issued(command(2, CommandAction.PAUSE_JOB, "15:00", "17:00"), time="15:00"))
    agent.send(inbound(tick("16:00")))
    assert agent.act.jobs[(CAMBRIDGE, A1)] == JobState.PAUSED
    agent.send(inbound(tick("17:00")))
    assert [r.operation.kind for r in agent.act.log] == [OpKind.PAUSE, OpKind.RESUME]


def test_an_early_end_resumes_when_the_replacement_arrives() -> None:
    agent = Agent()
    agent.send(issued(command(1, CommandAction.PAUSE_JOB, "14:00", "16:00")))
    agent.send(issued(command(2, CommandAction.PAUSE_JOB, "14:00", "15:00", replaces=1),
                      time="15:00"))
    assert agent.act.jobs[(CAMBRIDGE, A1)] == JobState.RUNNING
    resume = agent.act.log[-1].operation
    assert (resume.kind, resume.command_ids) == (OpKind.RESUME, ("cmd-2",))
    agent.send(inbound(tick("16:00")))
    assert len(agent.act.log) == 2


def test_an_empty_replacement_cancels_a_command_before_it_starts() -> None:
    agent = Agent()
    agent.send(issued(command(1, CommandAction.BATTERY_CHARGE, "22:00", "23:00", job=None,
                              kw=200)))
    agent.send(issued(command(2, CommandAction.BATTERY_CHARGE, "22:00", "22:00", job=None,
                              kw=200, replaces=1), time="15:00"))
    agent.send(inbound(tick("22:30")))
    assert agent.act.log == [] and agent.state.sites[CAMBRIDGE].commands == {}


def test_an_empty_window_without_a_replacement_is_refused() -> None:
    with pytest.raises(HandlerRejected) as exc:
        Agent().send(issued(command(1, CommandAction.PAUSE_JOB, "14:00", "14:00")))
    assert exc.value.reason == "invalid_command"


def test_the_same_command_twice_is_applied_once() -> None:
    agent = Agent()
    c = command(1, CommandAction.PAUSE_JOB, "14:00", "16:00")
    agent.send(issued(c))
    agent.send(inbound(env(c, time=at("14:05"), id="another-message-id")))
    assert len(agent.act.log) == 1


def test_commands_for_other_sites_are_left_to_their_agents() -> None:
    agent = Agent()
    agent.send(issued(command(1, CommandAction.START_JOB, "14:00", "16:00", site=MANCHESTER)))
    assert agent.act.log == [] and agent.state.ignored == 1


def test_a_command_already_over_is_refused_as_expired() -> None:
    agent = Agent()
    agent.send(inbound(tick("17:00")))
    with pytest.raises(HandlerRejected) as exc:
        agent.send(issued(command(1, CommandAction.PAUSE_JOB, "14:00", "16:00")))
    assert exc.value.reason == "command_expired" and "cmd-1" in exc.value.detail
    assert agent.act.log == []


def test_a_command_sent_after_its_end_is_refused_as_expired() -> None:
    agent = Agent()
    with pytest.raises(HandlerRejected) as exc:
        agent.send(issued(command(1, CommandAction.PAUSE_JOB, "14:00", "16:00"), time="16:30"))
    assert exc.value.reason == "command_expired"


def test_a_job_command_without_a_job_is_refused() -> None:
    with pytest.raises(HandlerRejected) as exc:
        Agent().send(issued(command(1, CommandAction.PAUSE_JOB, "14:00", "16:00", job=None)))
    assert exc.value.reason == "invalid_command"


def test_replayed_records_rebuild_state_without_actuating() -> None:
    agent = Agent()
    agent.send(issued(command(1, CommandAction.PAUSE_JOB, "14:00", "16:00"))._replace(
        replay=True))
    assert agent.act.log == []
    agent.send(inbound(tick("16:00")))
    assert [r.operation.kind for r in agent.act.log] == [OpKind.RESUME]


class Broken:
    name = "broken"

    def describe(self, op: Operation) -> tuple[str, ...]:
        return (f"break {op}",)

    def apply(self, op: Operation) -> ActuationResult:
        if op.kind == OpKind.MIGRATE_IN:
            raise ConnectionError("scheduler unreachable")
        return ActuationResult(op, Outcome.FAILED, "job not found")


def test_a_failed_operation_refuses_the_record_with_its_commands_and_error() -> None:
    agent = Agent(Broken())
    with pytest.raises(HandlerRejected) as exc:
        agent.send(issued(command(7, CommandAction.PAUSE_JOB, "14:00", "16:00")))
    assert exc.value.reason == "actuation_failed"
    assert exc.value.detail == (f"pause job-a/a1 at {CAMBRIDGE} (commands cmd-7): failed: "
                                "job not found")
    with pytest.raises(HandlerRejected) as exc:
        agent.send(issued(command(8, CommandAction.START_JOB, "14:00", "16:00", job=B1)))
    assert exc.value.detail.endswith("failed: ConnectionError: scheduler unreachable")
    assert agent.state.sites[CAMBRIDGE].commands == {}
    assert agent.state.sites[CAMBRIDGE].applied == IDLE


def test_a_command_whose_start_failed_is_not_ended_either() -> None:
    agent = Agent(Broken())
    with pytest.raises(HandlerRejected):
        agent.send(issued(command(7, CommandAction.PAUSE_JOB, "14:00", "16:00")))
    agent.send(inbound(tick("16:00")))  # no resume attempted: nothing raised


def test_a_battery_command_without_a_battery_actuator_is_unsupported() -> None:
    agent = Agent(Routed(SimulatedSite(), NoBattery()))
    with pytest.raises(HandlerRejected) as exc:
        agent.send(issued(command(1, CommandAction.BATTERY_DISCHARGE, "14:00", "16:00",
                                  job=None, kw=150)))
    assert exc.value.reason == "unsupported_action"


def test_simulated_site_answers_already_when_the_state_is_there() -> None:
    sim = SimulatedSite()
    pause = Operation(OpKind.PAUSE, CAMBRIDGE, A1)
    assert sim.apply(pause).outcome == Outcome.APPLIED
    assert sim.apply(pause).outcome == Outcome.ALREADY
    assert sim.apply(Operation(OpKind.RESUME, CAMBRIDGE, B1)).outcome == Outcome.ALREADY
    assert sim.apply(Operation(OpKind.SET_BATTERY, CAMBRIDGE, battery_kw=0)).outcome == \
        Outcome.ALREADY


# ---- dry run ------------------------------------------------------------------------------------


def test_dry_run_logs_what_it_would_do_and_changes_nothing(
        caplog: pytest.LogCaptureFixture) -> None:
    inner = SimulatedSite()
    agent = Agent(DryRun(inner))
    with caplog.at_level(logging.INFO, logger="services.site_agent.dry_run"):
        agent.send(issued(command(1, CommandAction.PAUSE_JOB, "14:00", "16:00")))
    assert inner.jobs == {} and inner.log == []
    assert [r.getMessage() for r in caplog.records] == [
        (f"dry run: would job job-a/a1 at {CAMBRIDGE} -> paused (pause job-a/a1 at {CAMBRIDGE}; "
         "commands cmd-1)")]


def test_dry_run_of_kubernetes_names_the_patches_without_a_cluster() -> None:
    dry = DryRun(KubernetesActuator("training"))
    r = dry.apply(Operation(OpKind.PAUSE, CAMBRIDGE, A1))
    assert r.outcome == Outcome.DRY_RUN
    assert r.calls[0] == ("PATCH batch/v1 jobs -n training -l "
                          "degflex.io/job-id=job-a,degflex.io/part-id=a1: spec.suspend=true")
    assert dry.apply(Operation(OpKind.SET_BATTERY, CAMBRIDGE, battery_kw=5)).outcome == \
        Outcome.UNSUPPORTED


def test_dry_run_of_slurm_names_the_scontrol_call() -> None:
    dry = DryRun(SlurmActuator(pause_mode="throttle", throttle_tasks=2))
    assert dry.apply(Operation(OpKind.PAUSE, CAMBRIDGE, A1)).calls == (
        "scontrol update JobId=<array of job-a.a1> ArrayTaskThrottle=2",)
    assert dry.apply(Operation(OpKind.MIGRATE_IN, CAMBRIDGE, A1)).calls == (
        "scontrol release <jobs named job-a.a1>",)


# ---- settings and composition -------------------------------------------------------------------


def settings(**kw: Any) -> SiteAgentSettings:
    return SiteAgentSettings(site_ids=kw.pop("site_ids", CAMBRIDGE), **kw)


def test_settings_read_the_site_list_and_refuse_bad_values() -> None:
    assert settings(site_ids=" cambridge-east , manchester").sites == {CAMBRIDGE, MANCHESTER}
    for bad in ({"site_ids": "a,,b"}, {"actuator": "nomad"}, {"slurm_job_name": "{user}"},
                {"k8s_namespace": "Not_A_Namespace"}):
        with pytest.raises(ValidationError):
            settings(**bad)


def test_actuator_names_build_the_matching_actuators() -> None:
    sim = actuator(settings())
    assert isinstance(sim, Routed) and isinstance(sim.jobs, SimulatedSite)
    assert sim.battery is sim.jobs
    dry = actuator(settings(actuator="dry-run"))
    assert isinstance(dry, Routed) and isinstance(dry.jobs, DryRun)
    assert isinstance(dry.battery, DryRun)
    slurm = actuator(settings(actuator="slurm", battery_actuator="none",
                              slurm_pause_mode="requeue"))
    assert isinstance(slurm, Routed) and isinstance(slurm.jobs, SlurmActuator)
    assert slurm.jobs.pause_mode == "requeue" and isinstance(slurm.battery, NoBattery)
    k8s = actuator(settings(actuator="kubernetes", dry_run=True, battery_actuator="simulator"))
    assert isinstance(k8s, Routed) and isinstance(k8s.jobs, DryRun)
    assert isinstance(k8s.jobs.inner, KubernetesActuator)
    assert k8s.jobs.inner.namespace == "default"
