"""A Deployment and its pods as Observed: replicas, and reasons in plain words."""

from collections.abc import Mapping
from datetime import datetime

from ..base import BackendEvent, Observed, ReplicaState
from ..kube_client import KubeClient
from .settings import GPU_RESOURCE, L_REVISION, L_TEMPLATE, LOG_LINES


def _timestamp(value: str | None) -> float:
    if not value:
        return 0.0
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def _pod_ready(pod: Mapping) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _pod_problem(pod: Mapping) -> tuple[str, str, str] | None:
    """(event kind, message, container with a crash) for a pod that cannot serve, else None."""
    status = pod.get("status") or {}
    name = (pod.get("metadata") or {}).get("name", "?")
    for cond in status.get("conditions") or []:
        if (
            cond.get("type") == "PodScheduled"
            and cond.get("status") == "False"
            and cond.get("reason") == "Unschedulable"
        ):
            text = cond.get("message", "")
            if f"Insufficient {GPU_RESOURCE}" in text:
                return "unschedulable", f"No node has a free GPU for pod {name}: {text}", ""
            return "unschedulable", f"Pod {name} cannot be scheduled: {text}", ""
    statuses = (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or [])
    for cs in statuses:
        waiting = (cs.get("state") or {}).get("waiting") or {}
        reason = waiting.get("reason", "")
        if reason in ("ErrImagePull", "ImagePullBackOff", "InvalidImageName"):
            return (
                "image_pull_failed",
                f"Cannot pull image {cs.get('image', '')!r} for pod {name}: {waiting.get('message', reason)}",
                "",
            )
        if reason == "CrashLoopBackOff":
            last = ((cs.get("lastState") or {}).get("terminated")) or {}
            code = last.get("exitCode")
            return (
                "crash_loop",
                f"Container {cs.get('name')} of pod {name} keeps crashing"
                + (
                    f" (exit code {code}, restarted {cs.get('restartCount', 0)} times)"
                    if code is not None
                    else ""
                ),
                cs.get("name", ""),
            )
        if reason in ("CreateContainerConfigError", "CreateContainerError"):
            return "container_config_error", f"Pod {name}: {waiting.get('message', reason)}", ""
    return None


def _deployment_problem(deployment: Mapping) -> tuple[str, str] | None:
    for cond in (deployment.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Progressing" and cond.get("reason") == "ProgressDeadlineExceeded":
            return (
                "progress_deadline_exceeded",
                f"The rollout made no progress in time: {cond.get('message', '')}",
            )
        if cond.get("type") == "ReplicaFailure" and cond.get("status") == "True":
            message = cond.get("message", "")
            kind = "quota_exceeded" if "exceeded quota" in message else "replica_failure"
            return kind, f"Pods cannot be created: {message}"
    return None


class KubernetesObserver:
    """Turns a Deployment and its pods into Observed: replicas, and reasons in plain words."""

    def __init__(self, client: KubeClient, runtime_port: int | None = None):
        self.client = client
        self.port = runtime_port

    def observed(self, deployment: Mapping | None, pods: list[Mapping], *, logs: bool = True) -> Observed:
        if deployment is None:
            return Observed(exists=False)
        meta = deployment.get("metadata") or {}
        labels = meta.get("labels") or {}
        revision = int(labels.get(L_REVISION, "0") or 0)
        current_template = labels.get(L_TEMPLATE, "")
        replicas, events = [], []
        for pod in sorted(pods, key=lambda p: (p.get("metadata") or {}).get("name", "")):
            if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                continue
            replica = self._replica(pod, revision, current_template)
            if replica is not None:
                replicas.append(replica)
            event = self._pod_event(pod, logs=logs, found=events)
            if event is not None:
                events.append(event)
        problem = _deployment_problem(deployment)
        if problem:
            events.insert(0, BackendEvent(kind=problem[0], message=problem[1], ongoing=True))
        unique = _first_of_each_kind(events)  # many pods share one reason
        want = (deployment.get("spec") or {}).get("replicas", 1)
        if want == 0 and not replicas and not meta.get("deletionTimestamp"):
            # Stopped or scaled to zero and drained: nothing runs. The objects stay (a start is one
            # apply), but like the local backend's "no process" this reads as not existing.
            return Observed(exists=False, message="Scaled to zero.", events=tuple(unique))
        message = _summary(deployment, want, revision, len(replicas), unique)
        return Observed(exists=True, replicas=tuple(replicas), message=message, events=tuple(unique))

    def _replica(self, pod: Mapping, revision: int, current_template: str) -> ReplicaState | None:
        """The pod as a replica; None while no node has taken it: it holds no GPU, so it is not a
        replica (billing meters replicas), only a reason."""
        pmeta = pod.get("metadata") or {}
        pstatus = pod.get("status") or {}
        if any(
            c.get("type") == "PodScheduled" and c.get("status") == "False"
            for c in pstatus.get("conditions") or []
        ):
            return None
        port = self.port or _container_port(pod)
        ip = pstatus.get("podIP", "")
        template = (pmeta.get("labels") or {}).get(L_TEMPLATE, "")
        return ReplicaState(
            id=pmeta.get("name", ""),
            # Pods of the current template belong to the current revision; older ones are
            # being replaced (their revision is not on them: see L_TEMPLATE).
            revision=revision if template and template == current_template else 0,
            template=template,
            url=f"http://{ip}:{port}" if ip else "",
            ready=_pod_ready(pod) and bool(ip),
            draining=bool(pmeta.get("deletionTimestamp")),
            started_at=_timestamp(pstatus.get("startTime")),
        )

    def _pod_event(self, pod: Mapping, *, logs: bool, found: list[BackendEvent]) -> BackendEvent | None:
        """What is wrong with the pod, if anything. A crash comes with its container's last log
        lines, read only for the first pod with that reason (`found`: the events of the pods
        before), so one log read per deployment."""
        problem = _pod_problem(pod)
        if not problem:
            return None
        kind, message, crashed = problem
        if crashed and logs and not any(e.kind == kind for e in found):
            pmeta = pod.get("metadata") or {}
            tail = self.client.read_log(
                pmeta.get("namespace", ""),
                pmeta.get("name", ""),
                container=crashed,
                previous=True,
                tail_lines=LOG_LINES,
            )
            if tail.strip():
                message += ". Last log lines:\n" + tail.rstrip()[-1500:]
        return BackendEvent(kind=kind, message=message, ongoing=True)


def _first_of_each_kind(events: list[BackendEvent]) -> list[BackendEvent]:
    seen, unique = set(), []
    for e in events:
        if e.kind not in seen:
            seen.add(e.kind)
            unique.append(e)
    return unique


def _summary(deployment: Mapping, want: int, revision: int, replicas: int, events: list[BackendEvent]) -> str:
    """One line on the deployment: the first reason if there is one, else where the rollout stands."""
    meta = deployment.get("metadata") or {}
    status = deployment.get("status") or {}
    ready = status.get("readyReplicas") or 0
    updated = status.get("updatedReplicas") or 0
    if meta.get("deletionTimestamp"):
        return "Deleting: waiting for the pods to stop."
    if events:
        return events[0].message
    if want == 0:
        return f"Scaling to zero: {replicas} replicas stopping."
    if ready < want or updated < want:
        return f"{ready} of {want} replicas ready, {updated} on the current revision {revision}."
    return ""


def _container_port(pod: Mapping) -> int:
    for c in (pod.get("spec") or {}).get("containers") or []:
        for p in c.get("ports") or []:
            if p.get("name") == "http":
                return int(p.get("containerPort", 80))
    return 80
