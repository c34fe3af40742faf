"""Every state change of a deployment. Each one validates, writes a Revision when the spec changes,
an Event for the timeline and an AuditEvent, bumps the generation, and asks the reconciler to act
once the transaction commits. None of them calls a backend."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Max, Q
from django.utils import timezone

from billing.services.budgets import budget_enforce
from controlplane.exceptions import ApplicationError
from controlplane.tenancy.models import AuditResult, Team
from controlplane.tenancy.services import audit_record
from deployments.choices import ArtifactFormat, ArtifactStatus, DeploymentStatus, DesiredState, ScalingMetric
from deployments.masking import mask_env
from deployments.models import Deployment, Event, ModelArtifact, Revision, Target
from deployments.models.deployments import DEPLOYMENT_NAME_VALIDATOR
from deployments.services.env import env_validate
from deployments.services.secret_refs import secret_refs_normalize, secret_refs_validate

RUNTIMES = {ArtifactFormat.ONNX: "onnxruntime", ArtifactFormat.HUGGINGFACE: "transformers"}
SPEC_FIELDS = (
    "artifact",
    "gpu_type",
    "gpu_count",
    "min_replicas",
    "max_replicas",
    "scaling_metric",
    "scaling_target",
    "scale_up_window_s",
    "scale_down_window_s",
    "idle_timeout_s",
    "env",
    "secrets",
    "memory_override",
)
DEFAULTS = {
    "gpu_type": "",
    "gpu_count": 0,
    "min_replicas": 1,
    "max_replicas": 1,
    "scaling_metric": ScalingMetric.CONCURRENCY,
    "scaling_target": 4.0,
    "scale_up_window_s": 0,
    "scale_down_window_s": 300,
    "idle_timeout_s": 900,
    "env": {},
    "secrets": {},
    "memory_override": False,
}


def _fail(message: str, field: str, code: str = "invalid"):
    raise ApplicationError(message, extra={"field": field}, code=code)


def event_record(
    *, deployment: Deployment, kind: str, message: str, actor=None, data: dict | None = None
) -> Event:
    label = actor.get_username() if actor is not None else "system"
    return Event.objects.create(
        deployment=deployment, kind=kind, message=message[:2000], data=data or {}, actor=label
    )


def _audit(actor, action: str, deployment: Deployment, **parameters) -> None:
    audit_record(
        actor=actor,
        action=action,
        resource_type="deployment",
        resource_id=deployment.pk,
        team=deployment.team,
        parameters={"name": deployment.name, **parameters},
    )


def reconcile_on_commit(deployment_id: int) -> None:
    """A change: the work queue runs a reconcile once the transaction commits (never before: the
    worker must see the change), at once or right after the one in flight. Every service that
    changes a deployment's desired state, and the autoscaler, end with this."""
    from deployments.services.reconcile_queue import reconcile_enqueue

    reconcile_enqueue(deployment_id, change=True)


def _gpu_memory_gb(gpu_type: str) -> float | None:
    from billing.selectors import gpu_type_list

    gpu = next((g for g in gpu_type_list() if g.slug == gpu_type), None)
    return float(gpu.memory_gb) if gpu else None


def _validate_spec(*, team: Team, target: Target, spec: dict, deployment: Deployment | None = None) -> None:
    artifact: ModelArtifact = spec["artifact"]
    if artifact.team_id != team.pk:
        _fail("No such model version in this team.", "artifact")
    if artifact.status != ArtifactStatus.READY:
        _fail(
            f"{artifact.name} v{artifact.version} is {artifact.status}; only ready versions deploy.",
            "artifact",
        )
    if spec["min_replicas"] > spec["max_replicas"]:
        _fail(
            f"min_replicas ({spec['min_replicas']}) cannot exceed max_replicas ({spec['max_replicas']}).",
            "min_replicas",
        )
    if spec["max_replicas"] < 1:
        _fail("max_replicas must be at least 1.", "max_replicas")
    if spec["scaling_metric"] not in ScalingMetric.values:
        _fail(f"Unknown scaling metric {spec['scaling_metric']!r}; use concurrency or rps.", "scaling_metric")
    if spec["scaling_target"] <= 0:
        _fail("The scaling target must be above zero.", "scaling_target")
    env_validate(spec["env"])
    secret_refs_validate(team=team, refs=spec["secrets"], env=spec["env"])
    gpu_type, gpu_count = spec["gpu_type"], spec["gpu_count"]
    if gpu_type:
        offered = target.gpu_inventory.get(gpu_type, 0)
        if not offered:
            have = ", ".join(f"{k} ×{v}" for k, v in target.gpu_inventory.items() if v) or "no GPUs"
            _fail(f"Target {target.name} does not offer {gpu_type} (it has {have}).", "gpu_type")
        if gpu_count < 1:
            _fail("Choose at least one GPU per replica, or no GPU type for CPU.", "gpu_count")
        if gpu_count > offered:
            _fail(
                f"Target {target.name} has {offered} {gpu_type} GPUs; a replica cannot use {gpu_count}.",
                "gpu_count",
            )
        _check_quota(
            team=team, gpu_type=gpu_type, wanted=gpu_count * spec["max_replicas"], deployment=deployment
        )
        _check_fit(
            artifact=artifact, gpu_type=gpu_type, gpu_count=gpu_count, override=spec["memory_override"]
        )
    elif gpu_count:
        _fail("Pick a GPU type for the GPUs, or set the count to 0 for CPU.", "gpu_type")
    budget_enforce(team=team, target=target, spec=spec, deployment=deployment)  # no-op unless switched on


def _check_quota(*, team: Team, gpu_type: str, wanted: int, deployment: Deployment | None) -> None:
    quota = (team.gpu_quota or {}).get(gpu_type)
    if quota is None:
        return
    others = Deployment.objects.filter(team=team, current_revision__gpu_type=gpu_type).exclude(
        Q(status=DeploymentStatus.DELETED) | Q(desired_state=DesiredState.DELETED)
    )
    if deployment is not None:
        others = others.exclude(pk=deployment.pk)
    used = sum(
        d.current_revision.gpu_count * d.current_revision.max_replicas
        for d in others.select_related("current_revision")
    )
    if used + wanted > quota:
        _fail(
            f"The team's {gpu_type} quota is {quota} GPUs; {used} are held by other deployments at their max "
            f"replicas, so this one can take at most {max(quota - used, 0)} (it asks {wanted}).",
            "max_replicas",
        )


def _check_fit(*, artifact: ModelArtifact, gpu_type: str, gpu_count: int, override: bool) -> None:
    from deployments.selectors.sizing import artifact_sizing
    from deployments.sizing import USABLE_MEMORY

    memory = _gpu_memory_gb(gpu_type)
    if memory is None or override:
        return
    rows = artifact_sizing(artifact)["rows"]
    if rows and rows[0].total_gb > memory * gpu_count * USABLE_MEMORY:
        _fail(
            f"{artifact.name} needs about {rows[0].total_gb:.1f} GB per replica ({rows[0].label}); "
            f"{gpu_count}× {gpu_type} offers {memory * gpu_count * USABLE_MEMORY:.1f} GB usable. "
            "Add GPUs, pick a larger type, or set memory_override.",
            "gpu_count",
        )


def _check_key_is_free(*, team: Team, name: str) -> None:
    """Backends name everything "<team>-<deployment>": team a's b-c and team a-b's c would share
    a-b-c. Refuse the second so no two live deployments ever share a key."""
    key = f"{team.slug}-{name}"
    pairs = Q(pk__in=[])
    for i, char in enumerate(key):
        if char == "-":
            pairs |= Q(team__slug=key[:i], name=key[i + 1 :])
    clash = (
        Deployment.objects.filter(pairs)
        .exclude(team=team)
        .exclude(status=DeploymentStatus.DELETED)
        .select_related("team")
        .first()
    )
    if clash is not None:
        _fail(
            f"{team.slug}/{name} would share the name {key!r} with another team's deployment on its targets; "
            "choose another name.",
            "name",
        )


def _new_revision(*, deployment: Deployment, spec: dict, actor, reason: str) -> Revision:
    number = (deployment.revisions.aggregate(n=Max("number"))["n"] or 0) + 1
    artifact = spec["artifact"]
    return Revision.objects.create(
        deployment=deployment,
        number=number,
        runtime=RUNTIMES[artifact.format],
        reason=reason,
        created_by=actor,
        **spec,
    )


def _spec_of(revision: Revision) -> dict:
    return {f: getattr(revision, f) for f in SPEC_FIELDS}


def _describe(spec: dict) -> dict:
    """The spec as the timeline and the audit log show it: env values under secret-looking names
    are masked here, at the source, so no event message or data ever holds them."""
    return {
        **{k: v for k, v in spec.items() if k != "artifact"},
        "artifact": f"{spec['artifact'].name} v{spec['artifact'].version}",
        "env": mask_env(spec["env"]),
    }


def _require_live(deployment: Deployment) -> None:
    if deployment.desired_state == DesiredState.DELETED:
        _fail("This deployment is being deleted.", "desired_state", code="conflict")


def deployment_locked(*, pk: int, **filters) -> Deployment | None:
    """The deployment's row, locked until the transaction ends, read afresh after the lock is held.
    The lock is taken alone: with its related rows joined into the FOR UPDATE, PostgreSQL re-reads
    a row another transaction just changed but joins it against the older snapshot, so a revision
    created by that transaction comes back as no current revision at all. NO KEY: rows that refer
    to the deployment (events, its reconcile ticket) are still written by others meanwhile; a plain
    FOR UPDATE would make their foreign-key checks wait on it, and deadlock."""
    if (
        not Deployment.objects.select_for_update(no_key=True)
        .filter(pk=pk, **filters)
        .values_list("pk")
        .first()
    ):
        return None
    return Deployment.objects.select_related("current_revision", "team", "target").get(pk=pk)


def _locked(deployment: Deployment) -> Deployment:
    """The deployment's row, locked until the transaction ends, and checked live on that row. Every
    change to desired state, replicas or revision (the API's, the autoscaler's, the reconciler's
    status write) takes this lock first, so concurrent requests apply one after another, each
    against what the previous one committed, and none is lost."""
    row = deployment_locked(pk=deployment.pk)
    _require_live(row)
    return row


@transaction.atomic
def deployment_create(
    *, team: Team, actor, name: str, target: Target, artifact: ModelArtifact, **options
) -> Deployment:
    """Create a deployment with revision 1 and start it. Raises ApplicationError naming the field."""
    try:
        DEPLOYMENT_NAME_VALIDATOR(name)
    except ValidationError as exc:
        _fail(f"Invalid name {name!r}. {exc.messages[0]}", "name")
    unknown = set(options) - set(DEFAULTS)
    if unknown:
        _fail(f"Unknown option {sorted(unknown)[0]}.", sorted(unknown)[0])
    if not (target.all_teams or target.teams.filter(pk=team.pk).exists()):
        _fail(f"Team {team.slug} may not deploy to target {target.name}.", "target")
    spec = {**DEFAULTS, **options, "artifact": artifact}
    spec["secrets"] = secret_refs_normalize(spec["secrets"])
    _validate_spec(team=team, target=target, spec=spec)
    Team.objects.select_for_update().get(pk=team.pk)  # names are unique among live deployments
    if Deployment.objects.filter(team=team, name=name).exclude(status=DeploymentStatus.DELETED).exists():
        _fail(f"The team already has a deployment named {name!r}.", "name")
    _check_key_is_free(team=team, name=name)
    deployment = Deployment.objects.create(
        team=team,
        name=name,
        target=target,
        created_by=actor,
        replicas=max(spec["min_replicas"], 1),
    )
    revision = _new_revision(deployment=deployment, spec=spec, actor=actor, reason="created")
    Deployment.objects.filter(pk=deployment.pk).update(current_revision=revision)
    deployment.current_revision = revision
    where = f"{spec['gpu_count']}× {spec['gpu_type']}" if spec["gpu_type"] else "CPU"
    note = "" if spec["gpu_type"] or target.has_gpus else " This target has no GPU: replicas serve on CPU."
    event_record(
        deployment=deployment,
        kind="created",
        actor=actor,
        message=f"Created with {artifact.name} v{artifact.version} on {target.name} ({where}), "
        f"{spec['min_replicas']} to {spec['max_replicas']} replicas.{note}",
    )
    _audit(actor, "deployment.create", deployment, target=target.name, **_describe(spec))
    reconcile_on_commit(deployment.pk)
    return deployment


@transaction.atomic
def deployment_update(*, deployment: Deployment, actor, reason: str = "updated", **changes) -> Deployment:
    """A new revision with the changes; the reconciler rolls it out without downtime."""
    unknown = set(changes) - set(SPEC_FIELDS)
    if unknown:
        _fail(f"{sorted(unknown)[0]} cannot be changed here.", sorted(unknown)[0])
    deployment = _locked(deployment)
    if "secrets" in changes:
        changes["secrets"] = secret_refs_normalize(changes["secrets"])
    spec = {**_spec_of(deployment.current_revision), **changes}
    if spec == _spec_of(deployment.current_revision):
        _fail(
            "Nothing changes: the new spec equals the current revision.",
            sorted(changes)[0] if changes else "spec",
        )
    _validate_spec(team=deployment.team, target=deployment.target, spec=spec, deployment=deployment)
    revision = _new_revision(deployment=deployment, spec=spec, actor=actor, reason=reason)
    replicas = min(
        max(deployment.replicas, spec["min_replicas"], 1 if spec["min_replicas"] else 0), spec["max_replicas"]
    )
    Deployment.objects.filter(pk=deployment.pk).update(
        current_revision=revision, generation=F("generation") + 1, replicas=replicas
    )
    changed = {
        k: _describe(spec)[k] for k in changes if _spec_of(deployment.current_revision).get(k) != spec[k]
    }
    event_record(
        deployment=deployment,
        kind="revision",
        actor=actor,
        data={"revision": revision.number, **changed},
        message=f"Revision {revision.number} ({reason}): "
        + ", ".join(f"{k} → {v}" for k, v in changed.items()),
    )
    _audit(actor, f"deployment.{reason.split()[0]}", deployment, revision=revision.number, **changed)
    reconcile_on_commit(deployment.pk)
    return Deployment.objects.get(pk=deployment.pk)


def deployment_scale(*, deployment: Deployment, actor, min_replicas: int, max_replicas: int) -> Deployment:
    return deployment_update(
        deployment=deployment,
        actor=actor,
        reason="scaled",
        min_replicas=min_replicas,
        max_replicas=max_replicas,
    )


@transaction.atomic
def deployment_rollback(*, deployment: Deployment, actor, revision_number: int) -> Deployment:
    """A new revision copying an old one (history only grows)."""
    deployment = _locked(deployment)
    old = deployment.revisions.filter(number=revision_number).first()
    if old is None:
        _fail(f"No revision {revision_number}.", "revision")
    if old.artifact is None or old.artifact.status != ArtifactStatus.READY:
        _fail(f"Revision {revision_number}'s model version no longer exists or is not ready.", "revision")
    return deployment_update(
        deployment=deployment, actor=actor, reason=f"rollback to {revision_number}", **_spec_of(old)
    )


@transaction.atomic
def deployment_pin(*, deployment: Deployment, actor, replicas: int | None) -> Deployment:
    """Hold the replica count (overriding the autoscaler) or, with None, hand it back."""
    deployment = _locked(deployment)
    revision = deployment.current_revision
    if replicas is not None and not 0 <= replicas <= revision.max_replicas:
        _fail(f"Pin between 0 and max_replicas ({revision.max_replicas}).", "replicas")
    Deployment.objects.filter(pk=deployment.pk).update(
        pinned_replicas=replicas, generation=F("generation") + 1
    )
    message = (
        f"Pinned at {replicas} replicas; the autoscaler waits."
        if replicas is not None
        else "Unpinned; the autoscaler decides again."
    )
    event_record(
        deployment=deployment,
        kind="pinned" if replicas is not None else "unpinned",
        actor=actor,
        message=message,
    )
    _audit(actor, "deployment.pin", deployment, replicas=replicas)
    reconcile_on_commit(deployment.pk)
    return Deployment.objects.get(pk=deployment.pk)


def deployments_roll_for_secret(*, deployments: list[Deployment], name: str, actor) -> None:
    """A secret the deployments inject changed: their replicas are replaced, one by one as for a new
    revision, so they start with the new value. The spec is unchanged, so no revision is made; the
    generation moves so the reconciler does not take the deployment for settled."""
    for deployment in deployments:
        Deployment.objects.filter(pk=deployment.pk).update(generation=F("generation") + 1)
        event_record(
            deployment=deployment,
            kind="secret_rotated",
            actor=actor,
            data={"secret": name},
            message=f"Secret {name} changed: replacing replicas so they start with the new value.",
        )
        reconcile_on_commit(deployment.pk)


def _set_desired(
    deployment: Deployment, actor, state: str, action: str, message: str, **fields
) -> Deployment:
    deployment = _locked(deployment)
    if deployment.desired_state == state:
        _fail(f"The deployment is already {state}.", "desired_state", code="conflict")
    status = {
        DesiredState.STOPPED: DeploymentStatus.STOPPING,
        DesiredState.RUNNING: DeploymentStatus.PROVISIONING,
        DesiredState.DELETED: DeploymentStatus.DELETING,
    }[state]
    Deployment.objects.filter(pk=deployment.pk).update(
        desired_state=state, status=status, status_message="", generation=F("generation") + 1, **fields
    )
    event_record(deployment=deployment, kind=action, actor=actor, message=message)
    _audit(actor, f"deployment.{action}", deployment)
    reconcile_on_commit(deployment.pk)
    return Deployment.objects.get(pk=deployment.pk)


@transaction.atomic
def deployment_stop(*, deployment: Deployment, actor) -> Deployment:
    return _set_desired(
        deployment, actor, DesiredState.STOPPED, "stop", "Stop requested: replicas will drain."
    )


@transaction.atomic
def deployment_start(*, deployment: Deployment, actor) -> Deployment:
    deployment = _locked(deployment)
    return _set_desired(
        deployment,
        actor,
        DesiredState.RUNNING,
        "start",
        "Start requested.",
        replicas=max(deployment.current_revision.min_replicas, 1),
    )


@transaction.atomic
def deployment_delete(*, deployment: Deployment, actor) -> Deployment:
    return _set_desired(
        deployment,
        actor,
        DesiredState.DELETED,
        "delete",
        "Delete requested: replicas stop and every object goes.",
    )


@transaction.atomic
def deployment_wake(*, team_slug: str, name: str) -> Deployment | None:
    """The gateway holds a request for a deployment scaled to zero: start a replica. Idempotent."""
    live = (
        Deployment.objects.filter(team__slug=team_slug, name=name, desired_state=DesiredState.RUNNING)
        .exclude(status=DeploymentStatus.DELETED)
        .values_list("pk", flat=True)
        .first()
    )
    deployment = live and deployment_locked(pk=live, desired_state=DesiredState.RUNNING)
    if not deployment:
        return None
    now = timezone.now()
    if deployment.replicas == 0 and deployment.pinned_replicas is None:
        Deployment.objects.filter(pk=deployment.pk).update(
            replicas=1,
            last_request_at=now,
            last_scaled_at=now,
            scale_history=[],
            generation=F("generation") + 1,
        )
        event_record(
            deployment=deployment,
            kind="cold_start",
            message="A request arrived while scaled to zero: starting a replica.",
        )
        audit_record(
            actor=None,
            action="deployment.wake",
            resource_type="deployment",
            resource_id=deployment.pk,
            team=deployment.team,
            parameters={"name": deployment.name},
        )
    reconcile_on_commit(deployment.pk)
    return deployment


@transaction.atomic
def deployment_mark_failed(*, deployment_id: int, reason: str, generation: int | None = None) -> None:
    """Final failure of provisioning: record it; a later change (update, rollback, start) retries.
    With `generation`, only if no change arrived since that generation was reconciled: a failure
    of the old spec must not overwrite a stop, delete or new revision the user asked for meanwhile."""
    deployment = deployment_locked(pk=deployment_id)
    if deployment is None or (generation is not None and deployment.generation != generation):
        return
    Deployment.objects.filter(pk=deployment_id).update(
        status=DeploymentStatus.FAILED, status_message=reason[:1000]
    )
    event_record(deployment=deployment, kind="failed", message=reason)
    audit_record(
        actor=None,
        action="deployment.reconcile",
        resource_type="deployment",
        resource_id=deployment_id,
        team=deployment.team,
        parameters={"name": deployment.name},
        result=AuditResult.FAILURE,
        error=reason,
    )
