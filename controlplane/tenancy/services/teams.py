from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from controlplane.exceptions import ApplicationError
from controlplane.tenancy.models import Membership, Team
from controlplane.tenancy.models.teams import SLUG_VALIDATOR
from controlplane.tenancy.permissions import Role

from .audit import audit_record

_EDITABLE = ("name", "cost_centre", "monthly_budget")
# Console URLs that sit beside /teams/<slug>/.
RESERVED_SLUGS = frozenset({"new", "switch"})


def _validate_budget(value: Decimal | None) -> None:
    if value is not None and value < 0:
        raise ApplicationError("The monthly budget cannot be negative.", extra={"field": "monthly_budget"})


@transaction.atomic
def team_create(
    *, actor, slug: str, name: str, cost_centre: str = "", monthly_budget: Decimal | None = None
) -> Team:
    """Create a team with the actor as its owner. Raises ApplicationError on a bad or taken slug."""
    try:
        SLUG_VALIDATOR(slug)
    except ValidationError as exc:
        raise ApplicationError(f"Invalid slug {slug!r}. {exc.messages[0]}", extra={"field": "slug"}) from exc
    if slug in RESERVED_SLUGS:
        raise ApplicationError(f"The slug {slug!r} is reserved.", extra={"field": "slug"})
    if not name.strip():
        raise ApplicationError("A team needs a name.", extra={"field": "name"})
    _validate_budget(monthly_budget)
    if Team.objects.filter(slug=slug).exists():
        raise ApplicationError(f"The slug {slug!r} is already taken.", extra={"field": "slug"})
    try:
        with transaction.atomic():
            team = Team.objects.create(
                slug=slug, name=name.strip(), cost_centre=cost_centre.strip(), monthly_budget=monthly_budget
            )
    except IntegrityError as exc:  # a concurrent create won the race for the slug
        raise ApplicationError(f"The slug {slug!r} is already taken.", extra={"field": "slug"}) from exc
    Membership.objects.create(team=team, user=actor, role=Role.OWNER)
    audit_record(
        actor=actor,
        action="team.create",
        resource_type="team",
        resource_id=team.pk,
        team=team,
        parameters={
            "slug": slug,
            "name": team.name,
            "cost_centre": team.cost_centre,
            "monthly_budget": monthly_budget,
        },
    )
    return team


@transaction.atomic
def team_update(*, team: Team, actor, **changes) -> Team:
    """Change name, cost centre or budget. The slug is fixed: it names namespaces and endpoints."""
    unknown = set(changes) - set(_EDITABLE)
    if unknown:
        field = sorted(unknown)[0]
        raise ApplicationError(f"{field} cannot be changed.", extra={"field": field})
    if "name" in changes and not str(changes["name"]).strip():
        raise ApplicationError("A team needs a name.", extra={"field": "name"})
    _validate_budget(changes.get("monthly_budget"))
    before = {f: getattr(team, f) for f in changes}
    for field, value in changes.items():
        setattr(team, field, value.strip() if isinstance(value, str) else value)
    team.save(update_fields=list(changes) or None)
    audit_record(
        actor=actor,
        action="team.update",
        resource_type="team",
        resource_id=team.pk,
        team=team,
        parameters={"before": before, "after": {f: getattr(team, f) for f in changes}},
    )
    return team


@transaction.atomic
def team_delete(*, team: Team, actor) -> None:
    """Delete a team and everything it owns: its deleted deployments' rows (revisions, events,
    usage, costs), model versions and their files, secrets, tokens, memberships, budgets and
    policy. Its audit events stay: they hold the team as plain values, not a foreign key.

    Refused with a 409 naming them while any deployment is not deleted: its replicas still run,
    and removing the rows would orphan them. The team row is locked first, as deployment_create
    does, so no deployment appears between the check and the delete."""
    # Deployments depend on teams, not the other way round; their reads and services are asked
    # here at call time so the tenancy app keeps importing nothing of theirs at load time.
    from deployments.models import Deployment
    from deployments.selectors import artifact_list
    from deployments.selectors.deployments import deployment_list
    from deployments.services import artifact_delete
    from deployments.storage import storage_delete_prefix

    Team.objects.select_for_update().get(pk=team.pk)
    live = list(deployment_list(team=team).values_list("name", flat=True))
    if live:
        raise ApplicationError(
            f"Team {team.slug!r} still has {len(live)} live deployment{'s' if len(live) > 1 else ''}: "
            f"{', '.join(live)}. Delete {'them' if len(live) > 1 else 'it'} first.",
            extra={"field": "deployments"},
            code="conflict",
        )
    deleted_deployments = Deployment.objects.filter(team=team)
    counts = {
        "deployments": deleted_deployments.count(),
        "artifacts": artifact_list(team=team).count(),
        "members": Membership.objects.filter(team=team).count(),
    }
    # Each model version goes through its own service: staged uploads and stored files go too.
    for artifact in artifact_list(team=team):
        artifact_delete(artifact=artifact, actor=actor)
    # A deleted deployment still points at its last revision (PROTECT); let go before the cascade.
    deleted_deployments.update(current_revision=None)
    audit_record(
        actor=actor,
        action="team.delete",
        resource_type="team",
        resource_id=team.pk,
        team=team,
        parameters={"slug": team.slug, "name": team.name, "removed": counts},
    )
    team_id = team.pk
    team.delete()
    # Anything left under the team's storage folder (a half-finished import) goes with it.
    transaction.on_commit(lambda: storage_delete_prefix(f"artifacts/{team_id}"))
