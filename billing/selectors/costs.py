"""Reads of the cost ledger, scoped to what the caller may see: owners, admins and finance members
see their teams' costs; a platform finance grant or a platform admin sees every team's costs and
the platform's idle line. Nobody else sees costs."""

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.db.models import F, Q, QuerySet, Sum
from django.utils import timezone

from billing.choices import CostCategory
from billing.models import CostEntry
from controlplane.exceptions import ApplicationError
from controlplane.tenancy.models import Membership, Team
from controlplane.tenancy.permissions import Action, PlatformRole, role_allows
from controlplane.tenancy.platform import has_platform_role

IDLE_NAME = "__idle__"  # OpenCost's name for cost that belongs to no workload
AGGREGATES = {
    "team": ("team__slug",),
    "deployment": ("team__slug", "deployment__name"),
    "cost_centre": ("team__slug", "team__cost_centre"),  # slug only to tell idle apart; merged by name
    "category": ("category",),
}


@dataclass(frozen=True, slots=True)
class CostScope:
    all_teams: bool
    team_ids: frozenset[int]

    @property
    def empty(self) -> bool:
        return not self.all_teams and not self.team_ids


def cost_scope_for(*, user, token=None) -> CostScope:
    """Which teams' costs the caller may read. Every team's (and the idle line) only with a
    platform finance grant or as a platform admin; a team role, finance included, is bounded by
    its team, since anyone can make a team and demote themself to finance in it. A team token
    reads its own team's costs only, and only if its owner's role there allows it."""
    if has_platform_role(user, PlatformRole.FINANCE, token):
        return CostScope(True, frozenset())
    if token is not None:
        role = (
            Membership.objects.filter(team_id=token.team_id, user=user).values_list("role", flat=True).first()
        )
        return CostScope(
            False, frozenset({token.team_id}) if role_allows(role, Action.COST_VIEW) else frozenset()
        )
    roles = Membership.objects.filter(user=user).values_list("team_id", "role")
    return CostScope(False, frozenset(t for t, r in roles if role_allows(r, Action.COST_VIEW)))


def cost_entries_for(*, scope: CostScope) -> QuerySet[CostEntry]:
    qs = CostEntry.objects.all()
    return qs if scope.all_teams else qs.filter(team_id__in=scope.team_ids)


def cost_teams_for(*, scope: CostScope) -> QuerySet[Team]:
    qs = Team.objects.order_by("slug")
    return qs if scope.all_teams else qs.filter(pk__in=scope.team_ids)


_RELATIVE = re.compile(r"^(\d{1,4})([hdw])$")


def parse_window(window: str, *, now: datetime | None = None) -> tuple[datetime, datetime]:
    """OpenCost windows: `24h`, `7d`, `2w`, `today`, `yesterday`, `week`, `month`, `lastmonth`,
    or `<RFC 3339>,<RFC 3339>`. Raises ApplicationError on field `window`."""
    now = now or timezone.now()
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    window = (window or "").strip().lower()
    if m := _RELATIVE.match(window):
        n, unit = int(m[1]), m[2]
        return now - timedelta(**{{"h": "hours", "d": "days", "w": "weeks"}[unit]: n}), now
    month = today.replace(day=1)
    named = {
        "today": (today, now),
        "yesterday": (today - timedelta(days=1), today),
        "week": (today - timedelta(days=today.weekday()), now),
        "month": (month, now),
        "lastmonth": ((month - timedelta(days=1)).replace(day=1), month),
    }
    if window in named:
        return named[window]
    if "," in window:
        try:
            start, end = (
                datetime.fromisoformat(p.strip().upper().replace("Z", "+00:00")) for p in window.split(",")
            )
        except ValueError:
            start = end = None
        if start and end and start.tzinfo and end.tzinfo and start < end:
            return start, end
    raise ApplicationError(
        f"Unknown window {window!r}: use 24h, 7d, 2w, today, yesterday, week, month, lastmonth or "
        "start,end in RFC 3339 (start before end, with a time zone).",
        extra={"field": "window"},
    )


def _name(aggregate: str, row: dict) -> str:
    if aggregate == "category":
        return row["category"]
    if row.get("team__slug") is None:
        return IDLE_NAME
    if aggregate == "deployment":
        return f"{row['team__slug']}/{row['deployment__name']}" if row["deployment__name"] else IDLE_NAME
    if aggregate == "cost_centre":
        return row["team__cost_centre"] or "__unassigned__"
    return row["team__slug"]


def allocation(
    *, scope: CostScope, start: datetime, end: datetime, aggregate: str = "team"
) -> dict[str, dict]:
    """Costs in [start, end) grouped by `aggregate` (team, deployment, cost_centre, category), in
    the shape of OpenCost's allocation: {name: {name, window, gpuHours, gpuCost, pvCost,
    networkCost, externalCost, sharedCost, totalCost, categories}}. One GROUP BY query."""
    if aggregate not in AGGREGATES:
        raise ApplicationError(
            f"Unknown aggregate {aggregate!r}: use {', '.join(AGGREGATES)}.", extra={"field": "aggregate"}
        )
    keys = AGGREGATES[aggregate]
    rows = (
        cost_entries_for(scope=scope)
        .filter(hour__gte=start, hour__lt=end)
        .values(*keys, *(() if aggregate == "category" else ("category",)))
        .annotate(usd=Sum("usd"), quantity=Sum("quantity"))
        .order_by()
    )
    out: dict[str, dict] = {}
    for row in rows:
        name = _name(aggregate, row)
        entry = out.setdefault(
            name,
            {
                "name": name,
                "window": {"start": start, "end": end},
                "gpuHours": Decimal(0),
                "gpuCost": Decimal(0),
                "pvCost": Decimal(0),
                "networkCost": Decimal(0),
                "externalCost": Decimal(0),
                "sharedCost": Decimal(0),
                "cpuCost": Decimal(0),
                "ramCost": Decimal(0),
                "totalCost": Decimal(0),
                "categories": {},
            },
        )
        category, usd = row["category"], row["usd"] or Decimal(0)
        field = {
            CostCategory.GPU_COMPUTE: "gpuCost",
            CostCategory.AMORTISED_HARDWARE: "gpuCost",
            CostCategory.STORAGE: "pvCost",
            CostCategory.NETWORK: "networkCost",
            CostCategory.REQUESTS: "externalCost",
            CostCategory.IDLE_CAPACITY: "sharedCost",
        }[category]
        entry[field] += usd
        if category in (CostCategory.GPU_COMPUTE, CostCategory.AMORTISED_HARDWARE):
            entry["gpuHours"] += (row["quantity"] or Decimal(0)) / 3600
        entry["categories"][category] = entry["categories"].get(category, Decimal(0)) + usd
        entry["totalCost"] += usd
    return dict(sorted(out.items()))


def month_range(month: date) -> tuple[datetime, datetime]:
    start = datetime(month.year, month.month, 1, tzinfo=UTC)
    nxt = datetime(month.year + (month.month == 12), month.month % 12 + 1, 1, tzinfo=UTC)
    return start, nxt


def cost_by_team_month(*, scope: CostScope, month: date) -> list[dict]:
    """The monthly report's rows: team, cost centre, deployment, category and USD, for one
    calendar month. One GROUP BY over the month's ledger lines on ids (no joins: joining names
    into a GROUP BY over millions of rows costs several times the grouping), then the names of the
    few hundred teams and deployments found."""
    from deployments.models import Deployment

    start, end = month_range(month)
    rows = list(
        cost_entries_for(scope=scope)
        .filter(hour__gte=start, hour__lt=end)
        .values("team_id", "deployment_id", "category")
        .annotate(usd=Sum("usd"))
        .order_by()
    )
    teams = dict(
        (pk, (slug, centre))
        for pk, slug, centre in Team.objects.filter(pk__in={r["team_id"] for r in rows}).values_list(
            "pk", "slug", "cost_centre"
        )
    )
    names = dict(
        Deployment.objects.filter(pk__in={r["deployment_id"] for r in rows}).values_list("pk", "name")
    )
    out = []
    for r in rows:
        slug, centre = teams.get(r["team_id"], (None, None))
        out.append(
            {
                "team_slug": slug,
                "cost_centre": centre,
                "deployment_name": names.get(r["deployment_id"]),
                "cat": r["category"],
                "usd": r["usd"],
            }
        )
    return sorted(out, key=lambda r: (r["team_slug"] or "", r["deployment_name"] or "", r["cat"]))


def cost_by_team_totals(*, scope: CostScope, month: date) -> list[dict]:
    """Per team and category only: the bench's monthly per-team report."""
    start, end = month_range(month)
    return list(
        cost_entries_for(scope=scope)
        .filter(hour__gte=start, hour__lt=end)
        .values("team_id", "category")
        .annotate(usd=Sum("usd"))
        .order_by("team_id", "category")
    )


def cost_daily(*, scope: CostScope, start: datetime, end: datetime, team_ids=None) -> list[dict]:
    """USD per team per day in [start, end), for the dashboard chart."""
    from django.db.models.functions import TruncDate

    qs = cost_entries_for(scope=scope).filter(hour__gte=start, hour__lt=end)
    if team_ids is not None:
        qs = qs.filter(Q(team_id__in=team_ids))
    return list(
        qs.annotate(day=TruncDate("hour"))
        .values("day", team_slug=F("team__slug"))
        .annotate(usd=Sum("usd"))
        .order_by("day", "team_slug")
    )
