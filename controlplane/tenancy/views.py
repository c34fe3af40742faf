"""Console pages for teams, members, tokens and the audit log. They call the same services and
selectors as the REST API; refusals are audited like the API's."""

import csv

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from controlplane.console import form_refused, team_for_console
from controlplane.exceptions import ApplicationError
from controlplane.htmx import htmx_partial
from controlplane.tenancy.context_processors import CURRENT_TEAM_SESSION_KEY
from controlplane.tenancy.filters import AuditEventFilter
from controlplane.tenancy.forms import (
    MemberAddForm,
    MemberRoleForm,
    TeamCreateForm,
    TeamUpdateForm,
    TokenCreateForm,
)
from controlplane.tenancy.models import AuditEvent, AuditResult
from controlplane.tenancy.permissions import ROLE_DESCRIPTIONS, Action, Role, Scope, TokenScope, role_allows
from controlplane.tenancy.platform import is_platform_admin
from controlplane.tenancy.selectors import (
    api_token_get,
    api_token_list,
    audit_event_list,
    membership_get,
    membership_list,
    team_get_for,
    team_list_for,
)
from controlplane.tenancy.services import (
    api_token_create,
    api_token_revoke,
    audit_record,
    membership_add,
    membership_change_role,
    membership_remove,
    team_create,
    team_delete,
    team_update,
)

AUDIT_PAGE_SIZE = 50
CSV_COLUMNS = [
    "seq",
    "created_at",
    "actor_label",
    "team_slug",
    "action",
    "resource_type",
    "resource_id",
    "result",
    "error",
    "client_address",
    "request_id",
    "parameters",
    "hash",
]


@login_required
def home(request):
    teams = team_list_for(user=request.user)
    slug = request.session.get(CURRENT_TEAM_SESSION_KEY)
    team = teams.filter(slug=slug).first() if slug else None
    if team is None and request.user.memberships.exists():
        team = teams.filter(memberships__user=request.user).first()
    if team is not None:
        return redirect("team-overview", slug=team.slug)
    return render(request, "tenancy/home_empty.html")


@login_required
def team_list(request):
    teams = team_list_for(user=request.user)
    roles = dict(request.user.memberships.values_list("team_id", "role"))
    rows = [(team, roles.get(team.pk)) for team in teams]
    return render(request, "tenancy/team_list.html", {"rows": rows})


@login_required
def team_new(request):
    form = TeamCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            team = team_create(actor=request.user, **form.cleaned_data)
        except ApplicationError as exc:
            form_refused(
                request,
                form=form,
                exc=exc,
                action="team.create",
                resource_type="team",
                parameters=form.cleaned_data,
            )
        else:
            messages.success(request, f"Team {team.name} created. You are its owner.")
            return redirect("team-overview", slug=team.slug)
    return render(request, "tenancy/team_new.html", {"form": form})


@login_required
def team_switch(request):
    slug = request.GET.get("team", "")
    team_get_for(user=request.user, slug=slug)
    request.session[CURRENT_TEAM_SESSION_KEY] = slug
    return redirect("team-overview", slug=slug)


@login_required
def team_overview(request, slug):
    team, role = team_for_console(request, slug, Action.TEAM_VIEW)
    context = {
        "team": team,
        "role": role,
        "role_description": ROLE_DESCRIPTIONS.get(role, ""),
        "active_tokens": api_token_list(team=team, user=request.user, role=role).filter(
            revoked_at__isnull=True
        )[:5],
        "can_audit": role_allows(role, Action.AUDIT_VIEW),
        "recent_events": AuditEvent.objects.filter(team_id=team.pk)[:8]
        if role_allows(role, Action.AUDIT_VIEW)
        else [],
    }
    return render(request, "tenancy/team_overview.html", context)


@login_required
def team_settings(request, slug):
    team, role = team_for_console(request, slug, Action.TEAM_UPDATE)
    form = TeamUpdateForm(request.POST or None, instance=team)
    if request.method == "POST" and form.is_valid():
        changes = {f: form.cleaned_data[f] for f in form.changed_data}
        try:
            team_update(team=team_get_for(user=request.user, slug=slug), actor=request.user, **changes)
        except ApplicationError as exc:
            form_refused(
                request,
                form=form,
                exc=exc,
                action="team.update",
                resource_type="team",
                team=team,
                parameters=changes,
            )
        else:
            messages.success(request, "Team settings saved.")
            return redirect("team-settings", slug=slug)
    return render(
        request,
        "tenancy/team_settings.html",
        {
            "team": team,
            "form": form,
            "can_delete": role_allows(role, Action.TEAM_DELETE),
        },
    )


@login_required
@require_POST
def team_remove(request, slug):
    team, _ = team_for_console(request, slug, Action.TEAM_DELETE)
    if request.POST.get("confirm_slug") != team.slug:
        messages.error(request, "Type the team's slug to confirm deletion.")
        return redirect("team-settings", slug=slug)
    try:
        team_delete(team=team, actor=request.user)
    except ApplicationError as exc:  # live deployments: the same 409 refusal as the API's
        audit_record(
            actor=request.user,
            action="team.delete",
            resource_type="team",
            resource_id=team.pk,
            team=team,
            result=AuditResult.FAILURE,
            error=exc.message,
        )
        messages.error(request, exc.message)
        return redirect("team-settings", slug=slug)
    request.session.pop(CURRENT_TEAM_SESSION_KEY, None)
    messages.success(request, f"Team {team.slug} deleted.")
    return redirect("home")


@login_required
def members(request, slug):
    team, role = team_for_console(request, slug, Action.MEMBER_VIEW)
    can_manage = role_allows(role, Action.MEMBER_MANAGE)
    form = MemberAddForm(request.POST or None)
    if request.method == "POST":
        if not can_manage:
            raise PermissionDenied("Your role cannot add members.")
        if form.is_valid():
            try:
                membership = membership_add(
                    team=team, actor=request.user, actor_role=role, **form.cleaned_data
                )
            except ApplicationError as exc:
                form_refused(
                    request,
                    form=form,
                    exc=exc,
                    action="member.add",
                    resource_type="membership",
                    team=team,
                    parameters=form.cleaned_data,
                )
            else:
                messages.success(request, f"{membership.user.username} joined as {membership.role}.")
                return redirect("members", slug=slug)
    return render(
        request,
        "tenancy/members.html",
        {
            "team": team,
            "memberships": membership_list(team=team),
            "form": form,
            "can_manage": can_manage,
            "roles": Role.choices,
            "role_descriptions": ROLE_DESCRIPTIONS.items(),
        },
    )


@login_required
@require_POST
def member_role(request, slug, pk):
    team, role = team_for_console(request, slug, Action.MEMBER_MANAGE)
    membership = membership_get(team=team, membership_id=pk)
    form = MemberRoleForm(request.POST)
    error = None
    if form.is_valid():
        try:
            membership = membership_change_role(
                membership=membership, actor=request.user, actor_role=role, role=form.cleaned_data["role"]
            )
        except ApplicationError as exc:
            form_refused(
                request,
                form=form,
                exc=exc,
                action="member.change_role",
                resource_type="membership",
                team=team,
                parameters=form.cleaned_data,
            )
            error = exc.message
            membership.refresh_from_db()
    else:
        error = "Choose a valid role."
    if htmx_partial(request):
        return render(
            request,
            "tenancy/_member_row.html",
            {
                "team": team,
                "m": membership,
                "can_manage": True,
                "roles": Role.choices,
                "error": error,
            },
        )
    if error:
        messages.error(request, error)
    return redirect("members", slug=slug)


@login_required
@require_POST
def member_remove(request, slug, pk):
    team, role = team_for_console(request, slug, Action.MEMBER_MANAGE)
    membership = membership_get(team=team, membership_id=pk)
    try:
        membership_remove(membership=membership, actor=request.user, actor_role=role)
    except ApplicationError as exc:
        audit_record(
            actor=request.user,
            action="member.remove",
            resource_type="membership",
            team=team,
            result=AuditResult.FAILURE,
            error=exc.message,
        )
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{membership.user.username} removed from {team.slug}.")
    return redirect("members", slug=slug)


@login_required
def tokens(request, slug):
    team, role = team_for_console(request, slug, Action.TOKEN_OWN)
    # ?scope=invoke preselects scopes: the deployment page links here for an invoke token.
    scopes = [s for s in request.GET.getlist("scope") if s in Scope.values]
    platform_admin = is_platform_admin(request)
    form = TokenCreateForm(
        request.POST or None,
        initial={"scopes": scopes} if scopes else None,
        platform_admin=platform_admin,
    )
    created = plaintext = None
    if request.method == "POST" and form.is_valid():
        options = {"scope": request.POST.get("scope") or TokenScope.TEAM, **form.cleaned_data}
        try:
            created, plaintext = api_token_create(team=team, actor=request.user, **options)
        except ApplicationError as exc:
            form_refused(
                request,
                form=form,
                exc=exc,
                action="token.create",
                resource_type="api_token",
                team=team,
                parameters=options,
            )
        else:
            form = TokenCreateForm(platform_admin=platform_admin)
    context = {
        "team": team,
        "form": form,
        "created": created,
        "plaintext": plaintext,  # rendered into this one response only; never stored
        "tokens": api_token_list(team=team, user=request.user, role=role),
        "sees_all": role_allows(role, Action.TOKEN_MANAGE_ALL),
    }
    if htmx_partial(request):
        return render(request, "tenancy/_tokens_panel.html", context)
    return render(request, "tenancy/tokens.html", context)


@login_required
@require_POST
def token_revoke(request, slug, pk):
    team, role = team_for_console(request, slug, Action.TOKEN_OWN)
    token = api_token_get(team=team, token_id=pk, user=request.user, role=role)
    try:
        api_token_revoke(token=token, actor=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Token {token.display_prefix} revoked.")
    return redirect("tokens", slug=slug)


def _audit_page(request, events, *, team=None):
    filterset = AuditEventFilter(request.GET or None, queryset=events)
    events = filterset.qs if filterset.is_bound and filterset.is_valid() else events
    if request.GET.get("format") == "csv":
        return _audit_csv(events, filename=f"audit-{team.slug if team else 'all'}.csv")
    page = Paginator(events, AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {"team": team, "filter": filterset, "page": page, "query": query.urlencode()}
    template = "tenancy/_audit_table.html" if htmx_partial(request) else "tenancy/audit.html"
    return render(request, template, context)


class _Echo:
    def write(self, value):
        return value


def _audit_csv(events, *, filename: str) -> StreamingHttpResponse:
    """Streamed row by row, so exporting a long log does not build it in memory."""
    writer = csv.writer(_Echo())

    def rows():
        yield writer.writerow(CSV_COLUMNS)
        for event in events.iterator(2000):
            yield writer.writerow([getattr(event, c) for c in CSV_COLUMNS])

    response = StreamingHttpResponse(rows(), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@login_required
def audit(request, slug):
    team, _ = team_for_console(request, slug, Action.AUDIT_VIEW)
    return _audit_page(request, AuditEvent.objects.filter(team_id=team.pk), team=team)


@login_required
def platform_audit(request):
    if not is_platform_admin(request):
        raise Http404("No such page.")
    return _audit_page(request, audit_event_list(user=request.user))
