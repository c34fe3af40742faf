from .audit import audit_event_list
from .platform import platform_grant_get, platform_grant_list
from .teams import membership_get, membership_list, membership_role, team_get_for, team_list_for
from .tokens import api_token_authenticate, api_token_get, api_token_introspect, api_token_list

__all__ = [
    "api_token_authenticate",
    "api_token_get",
    "api_token_introspect",
    "api_token_list",
    "audit_event_list",
    "membership_get",
    "membership_list",
    "membership_role",
    "platform_grant_get",
    "platform_grant_list",
    "team_get_for",
    "team_list_for",
]
