from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError

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
    """Delete a team with its memberships and tokens. Its audit events stay. While rows of other apps
    still hold it (deployments, models), ApplicationError(code="conflict") names them: a 409."""
    audit_record(
        actor=actor,
        action="team.delete",
        resource_type="team",
        resource_id=team.pk,
        team=team,
        parameters={"slug": team.slug, "name": team.name},
    )
    try:
        team.delete()
    except ProtectedError as exc:
        # Rows other apps keep (deployments above all) hold the team; the whole delete rolls back.
        held = sorted({f"{o._meta.verbose_name} {o}" for o in exc.protected_objects})
        shown = ", ".join(held[:5]) + (f" and {len(held) - 5} more" if len(held) > 5 else "")
        raise ApplicationError(f"The team still has {shown}; delete them first.", code="conflict") from exc
