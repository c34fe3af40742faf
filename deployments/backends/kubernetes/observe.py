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
        status = deployment.get("status") or {}
        spec = deployment.get("spec") or {}
        meta = deployment.get("metadata") or {}
        revision = int((meta.get("labels") or {}).get(L_REVISION, "0") or 0)
        current_template = (meta.get("labels") or {}).get(L_TEMPLATE, "")
        replicas, events = [], []
        for pod in sorted(pods, key=lambda p: (p.get("metadata") or {}).get("name", "")):
            pmeta = pod.get("metadata") or {}
            pstatus = pod.get("status") or {}
            if pstatus.get("phase") in ("Succeeded", "Failed"):
                continue
            port = self.port or _container_port(pod)
            ip = pstatus.get("podIP", "")
            unscheduled = any(
                c.get("type") == "PodScheduled" and c.get("status") == "False"
                for c in pstatus.get("conditions") or []
            )
            template = (pmeta.get("labels") or {}).get(L_TEMPLATE, "")
            # A pod no node has taken holds no GPU: not a replica (billing meters replicas), only a reason.
            (replicas if not unscheduled else []).append(
                ReplicaState(
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
            )
            problem = _pod_problem(pod)
            if problem:
                kind, message, crashed = problem
                if (
                    crashed and logs and not any(e.kind == kind for e in events)
                ):  # one log read per deployment
                    tail = self.client.read_log(
                        pmeta.get("namespace", ""),
                        pmeta.get("name", ""),
                        container=crashed,
                        previous=True,
                        tail_lines=LOG_LINES,
                    )
                    if tail.strip():
                        message += ". Last log lines:\n" + tail.rstrip()[-1500:]
                events.append(BackendEvent(kind=kind, message=message, ongoing=True))
        problem = _deployment_problem(deployment)
        if problem:
            events.insert(0, BackendEvent(kind=problem[0], message=problem[1], ongoing=True))
        # Dedupe: many pods share one reason; keep the first of each kind.
        seen, unique = set(), []
        for e in events:
            if e.kind not in seen:
                seen.add(e.kind)
                unique.append(e)
        want = spec.get("replicas", 1)
        if want == 0 and not replicas and not meta.get("deletionTimestamp"):
            # Stopped or scaled to zero and drained: nothing runs. The objects stay (a start is one
            # apply), but like the local backend's "no process" this reads as not existing.
            return Observed(exists=False, message="Scaled to zero.", events=tuple(unique))
        ready = status.get("readyReplicas") or 0
        updated = status.get("updatedReplicas") or 0
        if meta.get("deletionTimestamp"):
            message = "Deleting: waiting for the pods to stop."
        elif unique:
            message = unique[0].message
        elif want == 0:
            message = f"Scaling to zero: {len(replicas)} replicas stopping."
        elif ready < want or updated < want:
            message = f"{ready} of {want} replicas ready, {updated} on the current revision {revision}."
        else:
            message = ""
        return Observed(exists=True, replicas=tuple(replicas), message=message, events=tuple(unique))


def _container_port(pod: Mapping) -> int:
    for c in (pod.get("spec") or {}).get("containers") or []:
        for p in c.get("ports") or []:
            if p.get("name") == "http":
                return int(p.get("containerPort", 80))
    return 80
