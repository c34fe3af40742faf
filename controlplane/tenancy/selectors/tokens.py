from datetime import timedelta

from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils import timezone

from controlplane.tenancy.models import ApiToken, Membership, Team
from controlplane.tenancy.models.tokens import TOKEN_PREFIX, token_hash
from controlplane.tenancy.permissions import Action, TokenScope, role_allows

# last_used_at is written at most once a minute per token, so busy clients don't write per request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def _active_token(raw: str) -> ApiToken | None:
    if not raw.startswith(f"{TOKEN_PREFIX}_"):
        return None
    now = timezone.now()
    token = (
        ApiToken.objects.select_related("team", "user")
        .filter(token_hash=token_hash(raw), revoked_at__isnull=True, user__is_active=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .first()
    )
    if token is None:
        return None
    if token.scope == TokenScope.PLATFORM:
        # A platform token dies with its owner's superuser status; it never falls back to acting
        # as a team member.
        if not token.user.is_superuser:
            return None
    # Removing a member takes their tokens' power away even before the tokens are revoked.
    elif not Membership.objects.filter(team_id=token.team_id, user_id=token.user_id).exists():
        return None
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


def api_token_authenticate(*, raw: str) -> ApiToken | None:
    return _active_token(raw)


def api_token_introspect(*, raw: str) -> dict:
    """The gateway's view of a token, shaped like OAuth token introspection (RFC 7662)."""
    token = _active_token(raw)
    if token is None:
        return {"active": False}
    return {
        "active": True,
        "token_id": token.pk,
        "team": token.team.slug,
        "scopes": list(token.scopes),
        "expires_at": token.expires_at.isoformat() if token.expires_at else None,
    }


def api_token_list(*, team: Team, user, role: str | None) -> QuerySet[ApiToken]:
    """Admins see every token of the team; everybody else sees their own."""
    qs = ApiToken.objects.filter(team=team).select_related("user")
    if not role_allows(role, Action.TOKEN_MANAGE_ALL):
        qs = qs.filter(user=user)
    return qs


def api_token_get(*, team: Team, token_id: int, user, role: str | None) -> ApiToken:
    token = api_token_list(team=team, user=user, role=role).filter(pk=token_id).first()
    if token is None:
        raise Http404("No such token.")
    return token
