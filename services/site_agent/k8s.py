"""Kubernetes actuator: suspend and resume Jobs (`spec.suspend`) and scale Deployments and
StatefulSets to zero and back, found by label, through the official Python client.

A workload is every object in the namespace labelled `<prefix>/job-id=<job_id>` (and
`<prefix>/part-id=<part_id>` when the command names a part). Pausing (or migrating out) sets
`spec.suspend: true` on Jobs — the Job controller deletes their running pods, so training must
checkpoint on SIGTERM — and scales Deployments/StatefulSets to 0 after writing their replica
count into the `<prefix>/active-replicas` annotation, in one merge patch. Resuming (or migrating
in) clears `suspend` and scales back to that annotation. Objects already in the asked-for state
are left alone, so every operation is idempotent. Battery setpoints are not Kubernetes' business.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from services.site_agent.actuation import (
    ActuationError,
    ActuationResult,
    Operation,
    OpKind,
    Outcome,
    Workload,
    unsupported,
)

LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
MERGE_PATCH = "application/merge-patch+json"
STOP = frozenset({OpKind.PAUSE, OpKind.MIGRATE_OUT})


def selector(prefix: str, w: Workload) -> str:
    """The label selector of a workload; refuses ids that cannot be label values."""
    pairs = [("job-id", w.job_id)] + ([("part-id", w.part_id)] if w.part_id else [])
    for key, value in pairs:
        if len(value) > 63 or not LABEL_VALUE.match(value):
            raise ActuationError(f"{key} {value!r} is not a valid Kubernetes label value")
    return ",".join(f"{prefix}/{k}={v}" for k, v in pairs)


@dataclass
class KubernetesActuator:
    """`api_client` is a `kubernetes.client.ApiClient`; `connect()` builds one from kubeconfig
    or the in-cluster service account."""

    namespace: str
    api_client: Any = None
    label_prefix: str = "degflex.io"
    timeout_s: float = 10.0
    field_manager: str = "degflex-site-agent"
    name: str = "kubernetes"
    _apis: tuple[Any, Any] | None = field(default=None, repr=False)

    @classmethod
    def connect(cls, namespace: str, kubeconfig: str | None = None, **kw: Any) -> KubernetesActuator:
        from kubernetes import client, config

        if kubeconfig:
            config.load_kube_config(config_file=kubeconfig)
        else:
            try:
                config.load_incluster_config()
            except config.ConfigException:
                config.load_kube_config()
        return cls(namespace, client.ApiClient(), **kw)

    def _api(self) -> tuple[Any, Any]:
        if self._apis is None:
            from kubernetes import client

            self._apis = (client.BatchV1Api(self.api_client), client.AppsV1Api(self.api_client))
        return self._apis

    @property
    def _annotation(self) -> str:
        return f"{self.label_prefix}/active-replicas"

    def describe(self, op: Operation) -> tuple[str, ...]:
        if op.kind == OpKind.SET_BATTERY or op.workload is None:
            return ()
        sel = selector(self.label_prefix, op.workload)
        ns = self.namespace
        scaled = f"PATCH apps/v1 deployments,statefulsets -n {ns} -l {sel}:"
        if op.kind in STOP:
            return (f"PATCH batch/v1 jobs -n {ns} -l {sel}: spec.suspend=true",
                    f"{scaled} replicas=0, annotation {self._annotation}=<replicas>")
        return (f"PATCH batch/v1 jobs -n {ns} -l {sel}: spec.suspend=false",
                f"{scaled} replicas=<annotation {self._annotation}>")

    def apply(self, op: Operation) -> ActuationResult:
        if op.kind == OpKind.SET_BATTERY or op.workload is None:
            return unsupported(op, self.name)
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        calls: list[str] = []
        try:
            sel = selector(self.label_prefix, op.workload)
            stop = op.kind in STOP
            found = self._jobs(sel, stop, calls) + self._scaled(sel, stop, calls)
        except ApiException as exc:
            return ActuationResult(op, Outcome.FAILED, f"Kubernetes API {exc.status} "
                                   f"{exc.reason}: {_message(exc)}", tuple(calls))
        except (ActuationError, HTTPError, OSError, ValueError) as exc:
            # ValueError: an answer the client cannot read as the object it asked for
            return ActuationResult(op, Outcome.FAILED, f"{type(exc).__name__}: {exc}",
                                   tuple(calls))
        if found == 0:
            return ActuationResult(op, Outcome.FAILED, f"no Job, Deployment or StatefulSet in "
                                   f"namespace {self.namespace} matches {sel}", tuple(calls))
        return ActuationResult(op, Outcome.APPLIED if calls else Outcome.ALREADY,
                               f"{found} object(s) match {sel}", tuple(calls))

    def _jobs(self, sel: str, stop: bool, calls: list[str]) -> int:
        batch, _ = self._api()
        jobs = batch.list_namespaced_job(self.namespace, label_selector=sel,
                                         _request_timeout=self.timeout_s).items
        for job in jobs:
            if bool(job.spec.suspend) == stop:
                continue
            name = job.metadata.name
            batch.patch_namespaced_job(name, self.namespace, {"spec": {"suspend": stop}},
                                       field_manager=self.field_manager,
                                       _content_type=MERGE_PATCH,
                                       _request_timeout=self.timeout_s)
            calls.append(f"job/{name} suspend={str(stop).lower()}")
        return len(jobs)

    def _scaled(self, sel: str, stop: bool, calls: list[str]) -> int:
        _, apps = self._api()
        found = 0
        for kind, lister, patcher in (
                ("deployment", apps.list_namespaced_deployment, apps.patch_namespaced_deployment),
                ("statefulset", apps.list_namespaced_stateful_set,
                 apps.patch_namespaced_stateful_set)):
            items = lister(self.namespace, label_selector=sel,
                           _request_timeout=self.timeout_s).items
            found += len(items)
            for obj in items:
                name = obj.metadata.name
                replicas = obj.spec.replicas if obj.spec.replicas is not None else 1
                notes = obj.metadata.annotations or {}
                if stop:
                    if replicas == 0:
                        continue
                    body = {"metadata": {"annotations": {self._annotation: str(replicas)}},
                            "spec": {"replicas": 0}}
                    target = 0
                else:
                    if self._annotation not in notes:
                        if replicas > 0:
                            continue
                        raise ActuationError(f"{kind}/{name} has 0 replicas and no "
                                             f"{self._annotation} annotation to scale back to")
                    target = _replicas(notes[self._annotation], f"{kind}/{name}")
                    if replicas == target:
                        continue
                    body = {"spec": {"replicas": target}}
                patcher(name, self.namespace, body, field_manager=self.field_manager,
                        _content_type=MERGE_PATCH, _request_timeout=self.timeout_s)
                calls.append(f"{kind}/{name} replicas={target}")
        return found


def _replicas(text: str, what: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = -1
    if n < 1:
        raise ActuationError(f"{what}: annotation value {text!r} is not a positive replica count")
    return n


def _message(exc: Any) -> str:
    import json

    try:
        return str(json.loads(exc.body).get("message", exc.body))[:300]
    except (TypeError, ValueError, AttributeError):
        return str(exc.body)[:300]
