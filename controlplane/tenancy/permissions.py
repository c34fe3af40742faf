"""Who may do what: the one place that maps roles to actions. Views, the API and the console all ask
`role_allows(role, action)`; nothing else compares role names."""

from enum import StrEnum

from django.db import models


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    DEPLOYER = "deployer", "Deployer"
    VIEWER = "viewer", "Viewer"
    FINANCE = "finance", "Finance"


class Action(StrEnum):
    TEAM_VIEW = "team.view"
    TEAM_UPDATE = "team.update"
    TEAM_DELETE = "team.delete"
    MEMBER_VIEW = "member.view"
    MEMBER_MANAGE = "member.manage"
    MEMBER_GRANT_OWNER = "member.grant_owner"
    TOKEN_OWN = "token.own"  # create, see and revoke tokens of one's own
    TOKEN_MANAGE_ALL = "token.manage_all"  # see and revoke everybody's tokens in the team
    AUDIT_VIEW = "audit.view"
    MODEL_VIEW = "model.view"
    MODEL_MANAGE = "model.manage"  # upload, register, delete model versions
    COST_VIEW = "cost.view"  # the team's costs, budgets and finance reports


_MEMBER = {Action.TEAM_VIEW, Action.MEMBER_VIEW, Action.TOKEN_OWN, Action.MODEL_VIEW}
_DEPLOYER = _MEMBER | {Action.MODEL_MANAGE}
_ADMIN = _DEPLOYER | {
    Action.TEAM_UPDATE,
    Action.MEMBER_MANAGE,
    Action.TOKEN_MANAGE_ALL,
    Action.AUDIT_VIEW,
    Action.COST_VIEW,
}

ROLE_ACTIONS: dict[str, frozenset[Action]] = {
    Role.OWNER: frozenset(_ADMIN | {Action.TEAM_DELETE, Action.MEMBER_GRANT_OWNER}),
    Role.ADMIN: frozenset(_ADMIN),
    Role.DEPLOYER: frozenset(_DEPLOYER),
    Role.VIEWER: frozenset(_MEMBER),
    # Finance reads its team's costs and nothing else of the team's internals. Every team's costs
    # need a platform finance grant (PlatformGrant): anyone can make a team and be finance in it.
    Role.FINANCE: frozenset({Action.TEAM_VIEW, Action.TOKEN_OWN, Action.COST_VIEW}),
}

ROLE_DESCRIPTIONS = {
    Role.OWNER: "Everything, including deleting the team and making other owners.",
    Role.ADMIN: "Manages members, settings and every token; reads the audit log.",
    Role.DEPLOYER: "Uploads models and runs deployments.",
    Role.VIEWER: "Reads the team's models, deployments and metrics.",
    Role.FINANCE: "Reads the team's costs and reports.",
}


def role_allows(role: str | None, action: Action) -> bool:
    return role is not None and action in ROLE_ACTIONS.get(role, frozenset())


class Scope(models.TextChoices):
    READ = "read", "read: GET requests of the REST API"
    WRITE = "write", "write: changes through the REST API"
    INVOKE = "invoke", "invoke: call the team's endpoints through the gateway"
    FINANCE = "finance", "finance: cost reports and allocation"


class TokenScope(models.TextChoices):
    """How far a token reaches (`scopes` above say which requests it may make). A team token acts
    as its owner's membership in one team, whoever the owner is; a platform token acts as a
    platform admin and only a superuser can hold one."""

    TEAM = "team", "team: acts as a member of its team"
    PLATFORM = "platform", "platform: acts as a platform admin (superusers only)"


class PlatformRole(models.TextChoices):
    """Roles above every team, granted only by a platform admin (PlatformGrant)."""

    FINANCE = "finance", "Platform finance: reads every team's costs and reports"
