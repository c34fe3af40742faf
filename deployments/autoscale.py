"""The autoscaler for local deployments, fed by the gateway's counters.

Each tick (Celery beat, every AUTOSCALE_INTERVAL seconds) pops `autoscale:{team}/{deployment}`:
requests per second = requests ÷ elapsed; mean concurrency = summed latency ÷ elapsed (Little's law).
The recommendation is ceil(metric ÷ target value). Like Kubernetes' HPA behaviour, a scale-up
takes the lowest recommendation of the scale-up window and a scale-down the highest of the
scale-down window, so a short spike or dip does not move replicas. A deployment with min 0 goes
to zero after its idle timeout, counted from its last request or from when its replica was first
ready, whichever is later, so a slow model load is never mistaken for idleness."""

import logging
import math
import time
from datetime import UTC, datetime

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from controlplane.tenancy.services import audit_record
from deployments.choices import DeploymentStatus, DesiredState, ScalingMetric
from deployments.dataplane import dataplane_store
from deployments.models import Deployment
from deployments.services.deployments import deployment_locked, event_record, reconcile_on_commit

logger = logging.getLogger(__name__)


def recommend(
    *, requests: int, latency_us: int, elapsed: float, metric: str, target: float
) -> tuple[int, float]:
    """(replicas wanted, the observed metric) for one interval."""
    if elapsed <= 0:
        return 0, 0.0
    value = requests / elapsed if metric == ScalingMetric.RPS else latency_us / 1_000_000 / elapsed
    return (math.ceil(value / target - 1e-9) if value > 0 else 0), value


def decide(
    *,
    current: int,
    history: list[list[float]],
    now: float,
    up_window: int,
    down_window: int,
    min_replicas: int,
    max_replicas: int,
) -> int:
    """The replica count the stabilisation windows allow, given recommendations [[time, replicas]]."""
    floor = max(min_replicas, 1)
    latest = history[-1][1]
    up = [r for t, r in history if t >= now - up_window] or [latest]
    proposal = current
    if min(up) > current:
        proposal = min(up)
    elif latest < current:
        window = [r for t, r in history if t >= now - down_window]
        spans_window = history[0][0] <= now - down_window
        if spans_window and max(window) < current:
            proposal = max(window)
    return min(max(proposal, floor), max_replicas)


def autoscale_all() -> int:
    """One tick for every running local deployment; returns how many changed size."""
    store = dataplane_store()
    changed = 0
    live = (
        Deployment.objects.filter(desired_state=DesiredState.RUNNING, target__kind="local")
        .exclude(status__in=[DeploymentStatus.DELETED, DeploymentStatus.FAILED])
        .select_related("team", "current_revision")
    )
    for deployment in live:
        counts = store.pop_counters(f"autoscale:{deployment.team.slug}/{deployment.name}")
        changed += autoscale_one(
            deployment,
            requests=counts.get("requests", 0),
            latency_us=counts.get("latency_us_sum", 0),
            now=time.time(),
        )
    return changed


@transaction.atomic
def autoscale_one(deployment: Deployment, *, requests: int, latency_us: int, now: float) -> bool:
    """Resize one deployment under its row lock, the one every API change and the reconciler's
    status write take: a stop, start, pin or new revision that commits meanwhile is read here,
    never overwritten with what the deployment looked like when the tick began."""
    deployment = deployment_locked(pk=deployment.pk, desired_state=DesiredState.RUNNING)
    if deployment is None or deployment.status in (DeploymentStatus.DELETED, DeploymentStatus.FAILED):
        return False
    revision = deployment.current_revision
    history = [list(h) for h in deployment.scale_history]
    elapsed = now - history[-1][0] if history else 0.0
    wanted, value = recommend(
        requests=requests,
        latency_us=latency_us,
        elapsed=elapsed,
        metric=revision.scaling_metric,
        target=revision.scaling_target,
    )
    history.append([now, wanted])
    keep = max(revision.scale_up_window_s, revision.scale_down_window_s) + 60
    history = [h for h in history if h[0] >= now - keep]
    updates: dict = {"scale_history": history}
    last_request = deployment.last_request_at
    if requests:
        last_request = updates["last_request_at"] = timezone.now()
    current = deployment.replicas
    new = current
    if deployment.pinned_replicas is None and elapsed > 0:
        if current == 0:
            new = 0  # a cold start comes from the gateway's first request (deployment_wake)
        else:
            new = decide(
                current=current,
                history=history,
                now=now,
                up_window=revision.scale_up_window_s,
                down_window=revision.scale_down_window_s,
                min_replicas=revision.min_replicas,
                max_replicas=revision.max_replicas,
            )
            if (
                revision.min_replicas == 0
                and _idle_for(deployment, last_request, now) >= revision.idle_timeout_s
            ):
                new = 0
    if new != current:
        # A new generation: a reconcile already applying the old count must not mark it settled.
        updates.update(replicas=new, last_scaled_at=timezone.now(), generation=F("generation") + 1)
        if new == 0:
            updates["first_ready_at"] = None  # the next cold start is timed from its own readiness
            reason = f"idle for {revision.idle_timeout_s} s"
        else:
            unit = "requests/s" if revision.scaling_metric == ScalingMetric.RPS else "concurrent requests"
            reason = f"{value:.2f} {unit} against a target of {revision.scaling_target:g} per replica"
        verb = "up" if new > current else "down"
        event_record(
            deployment=deployment,
            kind=f"scaled_{verb}",
            data={"from": current, "to": new},
            message=f"Scaled {verb} from {current} to {new}: {reason}.",
        )
        audit_record(
            actor=None,
            action="deployment.autoscale",
            resource_type="deployment",
            resource_id=deployment.pk,
            team=deployment.team,
            parameters={"name": deployment.name, "from": current, "to": new, "reason": reason},
        )
        reconcile_on_commit(deployment.pk)
    Deployment.objects.filter(pk=deployment.pk).update(**updates)
    return new != current


def _idle_for(deployment: Deployment, last_request, now: float) -> float:
    """Seconds idle, counted only once a replica has been ready."""
    if deployment.first_ready_at is None:
        return 0.0
    since = max(filter(None, [deployment.first_ready_at, last_request]))
    return now - since.astimezone(UTC).timestamp() if isinstance(since, datetime) else 0.0
