from .audit import audit_purge, audit_record, audit_verify
from .members import membership_add, membership_change_role, membership_remove
from .platform import platform_grant_create, platform_grant_revoke
from .teams import team_create, team_delete, team_update
from .tokens import api_token_create, api_token_revoke

__all__ = [
    "api_token_create",
    "api_token_revoke",
    "audit_purge",
    "audit_record",
    "audit_verify",
    "membership_add",
    "membership_change_role",
    "membership_remove",
    "platform_grant_create",
    "platform_grant_revoke",
    "team_create",
    "team_delete",
    "team_update",
]
