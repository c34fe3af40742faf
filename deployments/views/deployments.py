"""Console pages of deployments: the list, the wizard, the detail page with its live status and
timeline, and the actions (scale, pin, stop, start, roll back, delete). Every change goes through
the services in deployments.services.deployments, exactly as the REST API's do; refusals are
audited like the API's."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from controlplane.console import form_refused, team_for_console
from controlplane.exceptions import ApplicationError
from controlplane.htmx import htmx_partial
from controlplane.tenancy.models import AuditResult
from controlplane.tenancy.permissions import Action, Scope, role_allows
from controlplane.tenancy.services import audit_record
from deployments.choices import ArtifactStatus, DeploymentStatus, DesiredState
from deployments.forms import DeploymentForm, PinForm, RollbackForm, RolloutForm, ScaleForm
from deployments.models import Deployment
from deployments.reconcile import desired_replicas
from deployments.selectors import artifact_list
from deployments.selectors.deployments import deployment_get, deployment_list, target_list_for
from deployments.selectors.fit import target_fit
from deployments.services.deployments import (
    deployment_create,
    deployment_delete,
    deployment_pin,
    deployment_rollback,
    deployment_scale,
    deployment_start,
    deployment_stop,
    deployment_update,
)
from deployments.snippets import TOKEN_ENV, deployment_snippets

EVENTS_SHOWN = 50
# Statuses the reconciler rests in; the pages stop polling once one is reached for the current generation.
SETTLED = {
    DeploymentStatus.READY,
    DeploymentStatus.FAILED,
    DeploymentStatus.STOPPED,
    DeploymentStatus.DELETED,
}


def converged(deployment: Deployment) -> bool:
    return deployment.observed_generation >= deployment.generation and deployment.status in SETTLED


def endpoint_of(deployment: Deployment) -> str:
    """The URL the reconciler publishes; before its first pass, the gateway address it will use."""
    return (
        deployment.endpoint_url
        or f"{settings.GATEWAY_PUBLIC_URL}/endpoints/{deployment.team.slug}/{deployment.name}"
    )


@login_required
def deployment_list_view(request, slug):
    team, role = team_for_console(request, slug, Action.MODEL_VIEW)
    deployments = list(deployment_list(team=team))
    for d in deployments:
        d.desired = desired_replicas(d)
    context = {
        "team": team,
        "deployments": deployments,
        "can_manage": role_allows(role, Action.MODEL_MANAGE),
        "polling": any(not converged(d) for d in deployments),
    }
    if not deployments:
        context["has_ready_model"] = artifact_list(team=team).filter(status=ArtifactStatus.READY).exists()
        context["has_target"] = target_list_for(team=team).exists()
    template = (
        "deployments/deployments/_table.html"
        if htmx_partial(request)
        else "deployments/deployments/list.html"
    )
    return render(request, template, context)


def _wizard_context(form: DeploymentForm) -> dict:
    """The GPU choices and sizing fit for the model version and target the form holds so far, and
    whether the idle timeout applies (only with a minimum of 0 replicas)."""
    values = form.data if form.is_bound else form.initial
    artifact = _pick(form.fields["artifact"].queryset, values.get("artifact"))
    target = _pick(form.fields["target"].queryset, values.get("target"))
    gpu_type = values.get("gpu_type") or ""
    fit = target_fit(artifact=artifact, target=target) if artifact and target else None
    if target is not None:
        offered = [(slug, count) for slug, count in sorted(target.gpu_inventory.items()) if count]
        choices = [("", "CPU only")] + [
            (slug, f"{slug} ({count} on {target.name})") for slug, count in offered
        ]
        if not offered:
            choices = [("", "CPU (this target has no GPUs)")]
        form.fields["gpu_type"].widget.choices = choices
    else:
        form.fields["gpu_type"].widget.choices = [("", "Choose a target first")]
    return {
        "fit": fit,
        "chosen_artifact": artifact,
        "chosen_target": target,
        "chosen_gpu": gpu_type,
        "scale_to_zero": str(values.get("min_replicas", form.fields["min_replicas"].initial)) == "0",
    }


def _pick(queryset, value):
    try:
        return queryset.filter(pk=int(value)).first() if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


@login_required
def deployment_new(request, slug):
    team, _ = team_for_console(request, slug, Action.MODEL_MANAGE)
    if request.method == "GET" and htmx_partial(request):
        # The wizard asks again when the model, target, GPU type or minimum replicas change.
        form = DeploymentForm(team=team, initial=request.GET.dict(), partial_url=request.path)
        if not request.GET.get("gpu_type"):
            form.initial["gpu_count"] = 0  # CPU
        elif request.GET.get("gpu_count") in (None, "", "0"):
            form.initial["gpu_count"] = 1
        part = "scaling" if request.GET.get("part") == "scaling" else "hardware"
        return render(
            request,
            f"deployments/deployments/_wizard_{part}.html",
            {"team": team, "form": form, **_wizard_context(form)},
        )
    initial = {}
    if request.GET.get("model"):
        initial["artifact"] = request.GET["model"]
    form = DeploymentForm(request.POST or None, team=team, initial=initial, partial_url=request.path)
    if request.method == "POST" and form.is_valid():
        options = form.service_options()
        name, target, artifact = options.pop("name"), options.pop("target"), options.pop("artifact")
        try:
            deployment = deployment_create(
                team=team, actor=request.user, name=name, target=target, artifact=artifact, **options
            )
        except ApplicationError as exc:
            form_refused(
                request,
                form=form,
                exc=exc,
                action="deployment.create",
                resource_type="deployment",
                team=team,
                parameters={
                    "name": name,
                    "target": target.name,
                    "artifact": f"{artifact.name} v{artifact.version}",
                    **options,
                },
            )
        else:
            messages.success(request, f"Deployment {deployment.name} created; the reconciler is starting it.")
            return redirect("deployment-detail", slug=slug, pk=deployment.pk)
    context = {
        "team": team,
        "form": form,
        "has_ready_model": form.fields["artifact"].queryset.exists(),
        "has_target": form.fields["target"].queryset.exists(),
        **_wizard_context(form),
    }
    return render(request, "deployments/deployments/new.html", context)


@login_required
def deployment_detail(request, slug, pk):
    team, role = team_for_console(request, slug, Action.MODEL_VIEW)
    deployment = deployment_get(team=team, deployment_id=pk)
    revision = deployment.current_revision
    context = {
        "team": team,
        "d": deployment,
        "revision": revision,
        "desired": desired_replicas(deployment),
        "events": deployment.events.all()[:EVENTS_SHOWN],
        "polling": not converged(deployment),
        "endpoint": endpoint_of(deployment),
    }
    if htmx_partial(request):
        return render(request, "deployments/deployments/_live.html", context)
    live = deployment.status != DeploymentStatus.DELETED and deployment.desired_state != DesiredState.DELETED
    context.update(
        {
            "can_manage": role_allows(role, Action.MODEL_MANAGE) and live,
            "revisions": deployment.revisions.select_related("artifact", "created_by").order_by("-number"),
            "snippets": deployment_snippets(artifact=revision.artifact, endpoint=endpoint_of(deployment)),
            "token_env": TOKEN_ENV,
            "token_url": f"{reverse('tokens', args=[team.slug])}?scope={Scope.INVOKE}",
            "scale_form": ScaleForm(
                initial={"min_replicas": revision.min_replicas, "max_replicas": revision.max_replicas}
            ),
            "pin_form": PinForm(initial={"replicas": deployment.pinned_replicas}),
            "rollout_form": RolloutForm(team=team, initial={"artifact": revision.artifact_id}),
        }
    )
    return render(request, "deployments/deployments/detail.html", context)


# action -> (audit action of the service, success message)
_ACTIONS = {
    "rollout": (
        "deployment.updated",
        "Rolling out revision {revision}: new replicas start, then the old ones drain.",
    ),
    "scale": ("deployment.scaled", "Scaled: revision {revision} rolls out."),
    "pin": ("deployment.pin", "Pinned at {pinned} replicas; the autoscaler waits."),
    "unpin": ("deployment.pin", "Unpinned; the autoscaler decides again."),
    "stop": ("deployment.stop", "Stop requested: replicas drain, then stop."),
    "start": ("deployment.start", "Start requested."),
    "rollback": ("deployment.rollback", "Rolling back: revision {revision} copies the one you chose."),
    "delete": ("deployment.delete", "Delete requested: replicas stop and the endpoint goes away."),
}


def _run_action(action: str, deployment: Deployment, actor, post) -> Deployment:
    """Validate the action's form and call its service. Raises ApplicationError for refusals,
    including malformed input (the form's first error, on its field)."""
    form = {"scale": ScaleForm, "pin": PinForm, "rollback": RollbackForm, "rollout": RolloutForm}.get(action)
    data = {}
    if form is not None:
        bound = form(post, team=deployment.team) if form is RolloutForm else form(post)
        if not bound.is_valid():
            field, errors = next(iter(bound.errors.items()))
            raise ApplicationError(
                f"{bound.fields[field].label or field}: {' '.join(errors)}", extra={"field": field}
            )
        data = bound.cleaned_data
    if action == "rollout":
        return deployment_update(deployment=deployment, actor=actor, artifact=data["artifact"])
    if action == "scale":
        return deployment_scale(deployment=deployment, actor=actor, **data)
    if action == "pin":
        if data["replicas"] is None:
            raise ApplicationError(
                "Give a replica count to pin at, or use Unpin.", extra={"field": "replicas"}
            )
        return deployment_pin(deployment=deployment, actor=actor, replicas=data["replicas"])
    if action == "unpin":
        return deployment_pin(deployment=deployment, actor=actor, replicas=None)
    if action == "rollback":
        return deployment_rollback(deployment=deployment, actor=actor, revision_number=data["revision"])
    service = {"stop": deployment_stop, "start": deployment_start, "delete": deployment_delete}[action]
    return service(deployment=deployment, actor=actor)


@login_required
@require_POST
def deployment_action(request, slug, pk, action):
    if action not in _ACTIONS:
        raise Http404("No such action.")
    team, _ = team_for_console(request, slug, Action.MODEL_MANAGE)
    deployment = deployment_get(team=team, deployment_id=pk)
    audit_action, message = _ACTIONS[action]
    try:
        _run_action(action, deployment, request.user, request.POST)
    except ApplicationError as exc:
        given = {k: v for k, v in request.POST.items() if k != "csrfmiddlewaretoken"}
        audit_record(
            actor=request.user,
            action=audit_action,
            resource_type="deployment",
            resource_id=deployment.pk,
            team=team,
            parameters={"name": deployment.name, **given},
            result=AuditResult.FAILURE,
            error=exc.message,
        )
        messages.error(request, exc.message)
        return redirect("deployment-detail", slug=slug, pk=pk)
    updated = deployment_get(team=team, deployment_id=pk)
    messages.success(
        request, message.format(revision=updated.current_revision.number, pinned=updated.pinned_replicas)
    )
    if action == "delete":
        return redirect("deployment-list", slug=slug)
    return redirect("deployment-detail", slug=slug, pk=pk)
