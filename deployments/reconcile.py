"""Level-triggered reconcile: load the desired state, observe, take one step through the backend,
store what was observed. Re-running it changes nothing that is already right.

Trigger: the work queue (deployments/services/reconcile_queue.py) after every state change, the
periodic sweep, and the autoscaler. It holds no lock itself; the queue's task wraps it in the
per-deployment lock."""

import hashlib
import hmac
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from deployments.backends.base import Observed, PermanentBackendError
from deployments.backends.registry import get_backend
from deployments.choices import DeploymentStatus, DesiredState
from deployments.dataplane import dataplane_store
from deployments.locks import named_lock
from deployments.models import Deployment, ReplicaInterval
from deployments.selectors.secrets import secret_env_for
from deployments.services.deployments import deployment_mark_failed, event_record

logger = logging.getLogger(__name__)

REQUEUE_SECONDS = 1.0  # while replicas drain or a rollout waits
# A replica that started moments ago is looked at again soon: a small model is ready in a quarter
# second, and each requeue is one cheap observe.
STARTING_REQUEUE_SECONDS = 0.1
STARTING_WINDOW_SECONDS = 30
# A backend's standing condition (BackendEvent.ongoing) goes on the timeline again after this long.
ONGOING_EVENT_REPEAT = timedelta(minutes=10)
CRASHES_BEFORE_FAILED = 3  # a revision whose replicas crash this often without ever being ready has failed


@dataclass(frozen=True, slots=True)
class Outcome:
    status: str
    requeue_after: float | None


def artifact_location(artifact, *, local: bool) -> str:
    """Where a backend finds the model: a folder on this host for local targets (downloaded from S3
    once into var/model-cache/ when artifacts live there), the storage URI otherwise."""
    from deployments.storage import artifact_storage, is_s3

    storage = artifact_storage()
    if not is_s3(storage):
        path = Path(storage.path(artifact.storage_prefix))
        return str(path) if local else path.as_uri()
    uri = f"s3://{storage.bucket_name}/{storage._normalize_name(artifact.storage_prefix)}"
    if not local:
        return uri
    cache = settings.VAR_DIR / "model-cache" / artifact.sha256
    if not cache.exists():
        partial = cache.with_suffix(".partial")
        partial.mkdir(parents=True, exist_ok=True)
        for f in artifact.files.all():
            target = partial / f.path
            target.parent.mkdir(parents=True, exist_ok=True)
            storage.bucket.download_file(
                storage._normalize_name(f"{artifact.storage_prefix}/{f.path}"), str(target)
            )
        partial.rename(cache)
    return str(cache)


def desired_replicas(deployment: Deployment) -> int:
    if deployment.desired_state != DesiredState.RUNNING:
        return 0
    revision = deployment.current_revision
    if deployment.pinned_replicas is not None:
        return deployment.pinned_replicas
    return min(max(deployment.replicas, revision.min_replicas), revision.max_replicas)


def _secret_env(deployment: Deployment) -> tuple[tuple[tuple[str, str], ...], str]:
    """The replicas' secret entries and a digest of them keyed with SECRET_KEY (so a template label
    says that a value changed, never what it is)."""
    try:
        entries = secret_env_for(team=deployment.team, refs=deployment.current_revision.secrets)
    except LookupError as exc:
        raise PermanentBackendError(str(exc)) from None
    if not entries:
        return (), ""
    digest = hmac.new(settings.SECRET_KEY.encode(), repr(entries).encode(), hashlib.sha256).hexdigest()
    return entries, digest[:16]


def _runtime_env(artifact) -> dict[str, str]:
    """Runtime switches the platform owns (members cannot set SERVING_*): trust_remote_code only
    for a model inspection found needing it, and only while its team may still upload code."""
    from deployments.models import RegistryPolicy

    if (
        artifact.inspection.get("trust_remote_code")
        and RegistryPolicy.objects.filter(team_id=artifact.team_id, allow_code_files=True).exists()
    ):
        return {"SERVING_TRUST_REMOTE_CODE": "1"}
    return {}


def build_spec(deployment: Deployment):
    from deployments.backends.base import DeploymentSpec

    revision = deployment.current_revision
    artifact = revision.artifact
    secret_env, secrets_digest = _secret_env(deployment)
    return DeploymentSpec(
        key=deployment.key,
        team=deployment.team.slug,
        deployment=deployment.name,
        revision=revision.number,
        model_format=artifact.format,
        model_name=artifact.name,
        model_path=artifact_location(artifact, local=deployment.target.kind == "local"),
        model_sha256=artifact.sha256,
        replicas=desired_replicas(deployment),
        min_replicas=revision.min_replicas,
        max_replicas=revision.max_replicas,
        gpu_type=revision.gpu_type,
        gpu_count=revision.gpu_count,
        scaling_metric=revision.scaling_metric,
        scaling_target=revision.scaling_target,
        scale_up_window_s=revision.scale_up_window_s,
        scale_down_window_s=revision.scale_down_window_s,
        env=tuple(sorted({**revision.env, **_runtime_env(artifact)}.items())),
        secret_env=secret_env,
        secrets_digest=secrets_digest,
        labels=(
            ("team", deployment.team.slug),
            ("deployment", deployment.name),
            ("revision", str(revision.number)),
            ("cost-centre", deployment.team.cost_centre),
        )
        + _scaling_labels(deployment),
    )


def _scaling_labels(deployment: Deployment) -> tuple[tuple[str, str], ...]:
    """For backends that scale by themselves (Kubernetes' HPA): ("replicas-pinned", "true") when a
    user pinned the count, which then overrides their autoscaler too; ("gpu-quota", N), the team's
    GPU ceiling on the target for a quota of their own (absent when some GPU type is unlimited)."""
    from deployments.backends.kubernetes import namespace_gpu_quota

    labels: tuple[tuple[str, str], ...] = ()
    if deployment.pinned_replicas is not None:
        labels += (("replicas-pinned", "true"),)
    quota = namespace_gpu_quota(
        deployment.team.gpu_quota or {}, [t for t, n in deployment.target.gpu_inventory.items() if n]
    )
    return labels if quota is None else labels + (("gpu-quota", str(quota)),)


def reconcile_deployment(*, deployment_id: int) -> Outcome | None:
    deployment = (
        Deployment.objects.select_related("team", "target", "current_revision__artifact")
        .filter(pk=deployment_id)
        .first()
    )
    if deployment is None or deployment.status == DeploymentStatus.DELETED:
        return None
    backend = get_backend(deployment.target.config())
    generation = deployment.generation
    try:
        template = ""
        if deployment.desired_state == DesiredState.DELETED:
            backend.delete(deployment.key)
            observed = backend.observe(deployment.key)
        else:
            if deployment.status == DeploymentStatus.FAILED and deployment.observed_generation == generation:
                return Outcome(DeploymentStatus.FAILED, None)  # wait for a change rather than crash-loop
            spec = build_spec(deployment)
            template = spec.template_hash
            backend.apply(spec)
            observed = backend.observe(deployment.key)
    except PermanentBackendError as exc:
        deployment_mark_failed(deployment_id=deployment.pk, reason=str(exc), generation=generation)
        Deployment.objects.filter(pk=deployment.pk, generation=generation).update(
            observed_generation=generation
        )
        return Outcome(DeploymentStatus.FAILED, None)
    outcome = _record(
        deployment, observed, generation, template=template, endpoint=backend.endpoint(deployment.key)
    )
    floor = getattr(backend, "requeue_floor_seconds", 0.0)
    if outcome.requeue_after is not None and outcome.requeue_after < floor:
        return Outcome(outcome.status, floor)
    return outcome


def _status(
    deployment: Deployment, observed: Observed, replicas: int, template: str
) -> tuple[str, str, bool]:
    """(status, message, converged). Replicas count as current when made from this spec's template."""
    revision = deployment.current_revision
    ready = len(observed.ready(template))
    others = [r for r in observed.replicas if r.template != template or r.draining]
    if deployment.desired_state == DesiredState.DELETED:
        return (
            (DeploymentStatus.DELETED, "Deleted.", True)
            if not observed.exists
            else (DeploymentStatus.DELETING, f"Stopping {len(observed.replicas)} replicas.", False)
        )
    if deployment.desired_state == DesiredState.STOPPED:
        return (
            (DeploymentStatus.STOPPED, "Stopped.", True)
            if not observed.exists
            else (DeploymentStatus.STOPPING, f"Draining {len(observed.replicas)} replicas.", False)
        )
    if replicas == 0:
        if observed.replicas:
            return DeploymentStatus.READY, "Scaling to zero.", False
        return DeploymentStatus.READY, "Scaled to zero: the next request starts a replica.", True
    if ready >= replicas and not others:
        return (
            DeploymentStatus.READY,
            f"{ready} of {replicas} replicas ready (revision {revision.number}).",
            True,
        )
    if ready >= replicas:
        return (
            DeploymentStatus.READY,
            f"Revision {revision.number} ready; retiring {len(others)} old replicas.",
            False,
        )
    message = observed.message or f"{ready} of {replicas} replicas of revision {revision.number} ready."
    if others and any(r.ready for r in others):
        return DeploymentStatus.PROVISIONING, f"Rolling out revision {revision.number}: {message}", False
    if ready and deployment.first_ready_at:
        return DeploymentStatus.DEGRADED, message, False
    return DeploymentStatus.PROVISIONING, message, False


@transaction.atomic
def _record(
    deployment: Deployment, observed: Observed, generation: int, *, template: str, endpoint: str | None
) -> Outcome:
    now = timezone.now()
    # Compare-and-set: the status written is the outcome for `generation`. A change that committed
    # while the backend was applying (stop, delete, a new revision, the autoscaler's resize) moved
    # the generation; this outcome is then stale and only what was observed is stored. The change
    # queued its own reconcile, which writes the status, so this chain ends here.
    row = (
        Deployment.objects.select_for_update(no_key=True)  # see deployment_locked
        .filter(pk=deployment.pk)
        .values("generation", "status")
        .first()
    )
    if row is None:
        return Outcome(DeploymentStatus.DELETED, None)
    stale = row["generation"] != generation
    crashes = [e for e in observed.events if e.kind == "replica_crashed"]
    for event in observed.events:
        if (
            event.ongoing
            and deployment.events.filter(kind=event.kind, created_at__gte=now - ONGOING_EVENT_REPEAT).exists()
        ):
            continue  # a standing condition already on the timeline
        event_record(deployment=deployment, kind=event.kind, message=event.message)
    _record_intervals(deployment, observed, now)
    if stale:
        Deployment.objects.filter(pk=deployment.pk).update(
            ready_replicas=len(observed.ready()), serving_urls=observed.serving_urls()
        )
        if endpoint is None:
            transaction.on_commit(publish_routes)
        return Outcome(row["status"], None)
    replicas = desired_replicas(deployment)
    status, message, converged = _status(deployment, observed, replicas, template)
    if (
        crashes
        and not observed.ready(template)
        and _crash_count(deployment) >= CRASHES_BEFORE_FAILED
        and deployment.desired_state == DesiredState.RUNNING
    ):
        status, message, converged = DeploymentStatus.FAILED, crashes[-1].message, True
    fields = {
        "status": status,
        "status_message": message[:1000],
        "ready_replicas": len(observed.ready()),
        "serving_urls": observed.serving_urls(),
        "endpoint_url": endpoint
        or f"{settings.GATEWAY_PUBLIC_URL}/endpoints/{deployment.team.slug}/{deployment.name}",
    }
    if converged or status == DeploymentStatus.FAILED:
        fields["observed_generation"] = generation
    if status == DeploymentStatus.READY and replicas and deployment.first_ready_at is None:
        fields["first_ready_at"] = now
    if status != row["status"]:
        event_record(deployment=deployment, kind=f"status_{status}", message=message)
    Deployment.objects.filter(pk=deployment.pk).update(**fields)
    if endpoint is None:
        transaction.on_commit(publish_routes)
    if converged:
        return Outcome(status, None)
    starting = any(
        not r.ready and r.started_at > now.timestamp() - STARTING_WINDOW_SECONDS for r in observed.replicas
    )
    return Outcome(status, STARTING_REQUEUE_SECONDS if starting else REQUEUE_SECONDS)


def _crash_count(deployment: Deployment) -> int:
    """Crashes since the current revision was made, if none of its replicas was ever ready since."""
    since = deployment.current_revision.created_at
    ready_since = deployment.events.filter(kind="status_ready", created_at__gte=since).exists()
    return (
        0 if ready_since else deployment.events.filter(kind="replica_crashed", created_at__gte=since).count()
    )


def _record_intervals(deployment: Deployment, observed: Observed, now: datetime) -> None:
    """Open an interval for each replica first seen, close those no longer there: the exact up-time
    billing meters from."""
    gpu_type, gpu_count = deployment.current_revision.gpu_type, deployment.current_revision.gpu_count
    seen = {r.id: r for r in observed.replicas}
    open_ids = set(
        ReplicaInterval.objects.filter(deployment=deployment, ended_at__isnull=True).values_list(
            "replica_id", flat=True
        )
    )
    for replica_id, replica in seen.items():
        if replica_id in open_ids:
            continue
        started = datetime.fromtimestamp(replica.started_at, tz=UTC) if replica.started_at else now
        ReplicaInterval.objects.get_or_create(
            deployment=deployment,
            replica_id=replica_id,
            defaults={
                "revision": replica.revision,
                "gpu_type": gpu_type,
                "gpu_count": gpu_count,
                "started_at": started,
            },
        )
    gone = open_ids - set(seen)
    if gone:
        ReplicaInterval.objects.filter(
            deployment=deployment, replica_id__in=gone, ended_at__isnull=True
        ).update(ended_at=now)


def route_table() -> dict:
    table = {}
    live = Deployment.objects.exclude(status=DeploymentStatus.DELETED).select_related(
        "team", "current_revision"
    )
    for d in live:
        running = d.desired_state == DesiredState.RUNNING
        table[f"{d.team.slug}/{d.name}"] = {
            "replicas": list(d.serving_urls) if running else [],
            "scaled_to_zero": running and desired_replicas(d) == 0 and d.pinned_replicas is None,
            "revision": d.current_revision.number if d.current_revision else 0,
        }
    return table


def publish_routes() -> None:
    """Rebuild the gateway's route table from the database and publish it. Serialised, so an older
    snapshot never overwrites a newer one."""
    with named_lock("gateway-routes", blocking=30) as held:
        if not held:
            logger.warning("deployments.routes.lock_timeout")
            return
        store = dataplane_store()
        table = route_table()
        if store.get_document("gateway:routes")[1] != table:
            store.set_document("gateway:routes", table)


@cache
def needs_reconcile(deployment: Deployment, observed: Observed | None) -> bool:
    """Whether the sweep must reconcile: anything but a settled deployment whose observed replicas
    are exactly what its spec wants."""
    if deployment.desired_state != DesiredState.RUNNING or observed is None:
        return deployment.status not in (DeploymentStatus.STOPPED, DeploymentStatus.DELETED) or bool(
            observed and observed.exists
        )
    if deployment.status != DeploymentStatus.READY or deployment.observed_generation != deployment.generation:
        return True
    wanted = desired_replicas(deployment)
    try:
        template = build_spec(deployment).template_hash
    except PermanentBackendError:
        return True  # the reconcile says why (a secret it uses is gone) and marks it failed
    current = observed.ready(template)
    return (
        len(current) != wanted
        or len(observed.replicas) != wanted
        or sorted(r.url for r in current) != sorted(deployment.serving_urls)
    )


def sweep_plan() -> list[int]:
    """Deployments the periodic sweep reconciles. Backends that can observe many deployments at once
    (Kubernetes: a few list calls per sweep) are asked once per target, and only deployments that
    are not settled get a reconcile; the others are reconciled each sweep, which is how drift
    (a crashed local replica) is found."""
    live = Deployment.objects.exclude(status=DeploymentStatus.DELETED).select_related(
        "team", "target", "current_revision__artifact"
    )
    by_target: dict[int, list[Deployment]] = {}
    for deployment in live:
        by_target.setdefault(deployment.target_id, []).append(deployment)
    plan: list[int] = []
    for deployments in by_target.values():
        try:
            backend = get_backend(deployments[0].target.config())
            observe_many = getattr(backend, "observe_many", None)
            observed = observe_many([d.key for d in deployments]) if observe_many else None
        except Exception as exc:  # one target's trouble never stops the others' sweep
            # Unreachable, forbidden, a bad kubeconfig: its deployments are reconciled one by one,
            # and each reconcile's error (retried with backoff) lands on that deployment's timeline.
            logger.warning(
                "deployments.sweep.target_failed",
                extra={"target": deployments[0].target.name, "error": repr(exc)[:300]},
            )
            observed = None
        if observed is None:
            plan.extend(d.pk for d in deployments)
            continue
        plan.extend(d.pk for d in deployments if needs_reconcile(d, observed.get(d.key)))
    return sorted(plan)
