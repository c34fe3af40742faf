"""Console pages of team secrets: names and last change, a form to set or rotate one, delete. Values
are write-only here exactly as in the API (deployments.services.secrets holds the rules)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from controlplane.console import form_refused, team_for_console
from controlplane.exceptions import ApplicationError
from controlplane.tenancy.models import AuditResult
from controlplane.tenancy.permissions import Action, role_allows
from controlplane.tenancy.services import audit_record
from deployments.forms import SecretForm
from deployments.selectors.secrets import secret_list, secret_users
from deployments.services.secrets import secret_delete, secret_set


@login_required
def secret_list_view(request, slug):
    team, role = team_for_console(request, slug, Action.TEAM_VIEW)
    can_manage = role_allows(role, Action.TEAM_UPDATE)
    form = SecretForm(request.POST or None)
    if request.method == "POST":
        if not can_manage:
            raise PermissionDenied("Only the team's admins and owners set secrets.")
        if form.is_valid():
            name = form.cleaned_data["name"]
            try:
                secret_set(team=team, actor=request.user, **form.cleaned_data)
            except ApplicationError as exc:
                form_refused(
                    request,
                    form=form,
                    exc=exc,
                    action="secret.create",
                    resource_type="secret",
                    team=team,
                    parameters={"name": name},
                )
            else:
                messages.success(request, f"Secret {name} saved. Deployments using it roll to the new value.")
                return redirect("secret-list", slug=slug)
    secrets = [(s, secret_users(team=team, name=s.name)) for s in secret_list(team=team)]
    return render(
        request,
        "deployments/secrets/list.html",
        {"team": team, "form": form, "secrets": secrets, "can_manage": can_manage},
    )


@login_required
@require_POST
def secret_delete_view(request, slug, name):
    team, _ = team_for_console(request, slug, Action.TEAM_UPDATE)
    secret = secret_list(team=team).filter(name=name).first()
    if secret is None:
        raise Http404("No such secret.")
    try:
        secret_delete(secret=secret, actor=request.user)
    except ApplicationError as exc:
        audit_record(
            actor=request.user,
            action="secret.delete",
            resource_type="secret",
            resource_id=name,
            team=team,
            parameters={"name": name},
            result=AuditResult.FAILURE,
            error=exc.message,
        )
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Secret {name} deleted.")
    return redirect("secret-list", slug=slug)
