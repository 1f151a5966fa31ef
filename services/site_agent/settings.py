"""site-agent settings: the common ones, the sites it drives and the actuator by name."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from services.common.settings import ServiceSettings

ActuatorName = Literal["simulator", "dry-run", "kubernetes", "slurm"]


class SiteAgentSettings(ServiceSettings):
    service_name: str = "site-agent"
    site_ids: str = Field(min_length=1, description="comma-separated site ids this agent drives")
    actuator: ActuatorName = "simulator"
    dry_run: bool = False
    battery_actuator: Literal["same", "simulator", "dry-run", "none"] = "same"
    actuation_timeout_s: float = Field(10.0, gt=0, le=120)
    k8s_namespace: str = Field("default", pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
                               max_length=63)
    k8s_label_prefix: str = Field("degflex.io", min_length=1, max_length=253)
    k8s_kubeconfig: str | None = None
    slurm_scontrol: str = "scontrol"
    slurm_squeue: str = "squeue"
    slurm_pause_mode: Literal["suspend", "requeue", "throttle"] = "suspend"
    slurm_throttle_tasks: int = Field(1, ge=1, le=1_000_000)
    slurm_job_name: str = Field("{job_id}.{part_id}", min_length=1)

    @field_validator("site_ids")
    @classmethod
    def _sites(cls, v: str) -> str:
        ids = [s.strip() for s in v.split(",")]
        if not all(ids):
            raise ValueError("site_ids: empty site id in the list")
        return ",".join(ids)

    @field_validator("slurm_job_name")
    @classmethod
    def _template(cls, v: str) -> str:
        try:
            v.format(job_id="j", part_id="p")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"slurm_job_name may use only {{job_id}} and {{part_id}}: {exc}"
                             ) from exc
        return v

    @property
    def sites(self) -> frozenset[str]:
        return frozenset(self.site_ids.split(","))
