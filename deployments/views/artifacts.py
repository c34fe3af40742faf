"""Console pages of the model registry. Uploads run in the browser against the REST API (chunked,
resumable); these views render lists, the upload page and the detail page."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from controlplane.console import team_for_console
from controlplane.exceptions import ApplicationError
from controlplane.htmx import htmx_partial
from controlplane.tenancy.models import AuditResult
from controlplane.tenancy.permissions import Action, role_allows
from controlplane.tenancy.services import audit_record
from deployments.choices import ArtifactFormat, ArtifactStatus
from deployments.filters import ModelArtifactFilter
from deployments.forms import RegisterUriForm, SizingForm
from deployments.selectors import artifact_get, artifact_list
from deployments.selectors.sizing import artifact_sizing
from deployments.services import artifact_delete, artifact_register_uri

PAGE_SIZE = 25


@login_required
def model_list(request, slug):
    team, role = team_for_console(request, slug, Action.MODEL_VIEW)
    filterset = ModelArtifactFilter(request.GET or None, queryset=artifact_list(team=team))
    artifacts = filterset.qs if filterset.is_bound and filterset.is_valid() else artifact_list(team=team)
    page = Paginator(artifacts, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "team": team,
        "filter": filterset,
        "page": page,
        "can_manage": role_allows(role, Action.MODEL_MANAGE),
    }
    template = "deployments/models/_table.html" if htmx_partial(request) else "deployments/models/list.html"
    return render(request, template, context)


@login_required
def model_upload(request, slug):
    team, _ = team_for_console(request, slug, Action.MODEL_MANAGE)
    register = RegisterUriForm(request.POST or None)
    if request.method == "POST" and register.is_valid():
        try:
            fields = dict(register.cleaned_data)
            artifact = artifact_register_uri(
                team=team, actor=request.user, uri=fields.pop("source_uri"), **fields
            )
        except ApplicationError as exc:
            register.add_error(
                "source_uri" if exc.extra.get("field") == "source_uri" else "name", exc.message
            )
            audit_record(
                actor=request.user,
                action="model.register_uri",
                resource_type="model_artifact",
                team=team,
                parameters=register.cleaned_data,
                result=AuditResult.FAILURE,
                error=exc.message,
            )
        else:
            messages.success(
                request, f"{artifact.name} v{artifact.version} registered; inspection has started."
            )
            return redirect("model-detail", slug=slug, pk=artifact.pk)
    return render(
        request,
        "deployments/models/upload.html",
        {
            "team": team,
            "register": register,
            "formats": ArtifactFormat.choices,
        },
    )


@login_required
def model_detail(request, slug, pk):
    team, role = team_for_console(request, slug, Action.MODEL_VIEW)
    artifact = artifact_get(team=team, artifact_id=pk)
    sizing_form = SizingForm(request.GET or None, initial={"context": 8192, "concurrency": 4})
    params = sizing_form.cleaned_data if sizing_form.is_bound and sizing_form.is_valid() else {}
    context = {
        "team": team,
        "artifact": artifact,
        "files": artifact.files.all(),
        "versions": artifact_list(team=team).filter(name=artifact.name),
        "can_manage": role_allows(role, Action.MODEL_MANAGE),
        "sizing_form": sizing_form,
        "sizing": artifact_sizing(artifact, **params) if artifact.status == ArtifactStatus.READY else None,
        "polling": artifact.status in (ArtifactStatus.UPLOADING, ArtifactStatus.VALIDATING),
    }
    if htmx_partial(request):
        part = request.GET.get("part", "status")
        return render(
            request, f"deployments/models/_{'sizing' if part == 'sizing' else 'status'}.html", context
        )
    return render(request, "deployments/models/detail.html", context)


@login_required
@require_POST
def model_delete(request, slug, pk):
    team, _ = team_for_console(request, slug, Action.MODEL_MANAGE)
    artifact = artifact_get(team=team, artifact_id=pk)
    try:
        artifact_delete(artifact=artifact, actor=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("model-detail", slug=slug, pk=pk)
    messages.success(request, f"{artifact.name} v{artifact.version} deleted.")
    return redirect("model-list", slug=slug)
