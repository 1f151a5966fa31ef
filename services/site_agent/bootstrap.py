"""Composition root of the site agent: the actuator chosen by name, the runner on
`site.commands.v1` and `sim.clock.v1`."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from contracts.topics import CLOCK, COMMANDS
from services.common.metrics import stream_metrics
from services.common.runner import Runner
from services.site_agent.actuation import ActuationResult, Actuator, Operation, Routed, unsupported
from services.site_agent.dry_run import DryRun
from services.site_agent.executor import bind
from services.site_agent.handlers import HANDLERS, AgentState
from services.site_agent.metrics import agent_metrics
from services.site_agent.settings import SiteAgentSettings
from services.site_agent.simulated import SimulatedSite

CONSUMES = (COMMANDS, CLOCK)


class NoBattery:
    name = "none"

    def describe(self, op: Operation) -> tuple[str, ...]:
        return ()

    def apply(self, op: Operation) -> ActuationResult:
        return unsupported(op, "this site agent (no battery actuator configured)")


def job_actuator(s: SiteAgentSettings) -> Actuator:
    if s.actuator == "kubernetes":
        from services.site_agent.k8s import KubernetesActuator

        if s.dry_run:
            return KubernetesActuator(s.k8s_namespace, label_prefix=s.k8s_label_prefix)
        return KubernetesActuator.connect(s.k8s_namespace, s.k8s_kubeconfig,
                                          label_prefix=s.k8s_label_prefix,
                                          timeout_s=s.actuation_timeout_s)
    if s.actuator == "slurm":
        from services.site_agent.slurm import SlurmActuator

        return SlurmActuator(scontrol=s.slurm_scontrol, squeue=s.slurm_squeue,
                             pause_mode=s.slurm_pause_mode,
                             throttle_tasks=s.slurm_throttle_tasks, job_name=s.slurm_job_name,
                             timeout_s=s.actuation_timeout_s)
    return SimulatedSite()


def actuator(s: SiteAgentSettings) -> Actuator:
    """The named actuator for jobs and the battery one beside it, each wrapped in a dry run
    when asked (`actuator=dry-run` is the simulator's dry run)."""
    jobs = job_actuator(s)
    battery: Actuator = {"same": jobs, "none": NoBattery()}.get(s.battery_actuator,
                                                                  SimulatedSite())
    dry = s.dry_run or s.actuator == "dry-run"
    if dry:
        jobs = DryRun(jobs)
    if dry or s.battery_actuator == "dry-run":
        battery = DryRun(battery)
    return Routed(jobs, battery)


def bootstrap(settings: SiteAgentSettings, *, consumer: AIOKafkaConsumer | None = None,
              producer: AIOKafkaProducer | None = None,
              act: Actuator | None = None) -> Runner[AgentState]:
    metrics = stream_metrics()
    handlers = bind(HANDLERS, act if act is not None else actuator(settings),
                    agent_metrics(metrics.registry))
    return Runner(settings, AgentState(settings.sites), handlers, CONSUMES, metrics,
                  consumer=consumer, producer=producer)
