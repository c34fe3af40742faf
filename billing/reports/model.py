from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from billing.choices import CostCategory
from billing.selectors.costs import IDLE_NAME, CostScope, cost_by_team_month

CENT = Decimal("0.01")


def cents(value: Decimal) -> Decimal:
    return Decimal(value).quantize(CENT, ROUND_HALF_UP)


@dataclass
class ReportGroup:
    name: str  # team slug or cost centre
    cost_centre: str
    total: Decimal = Decimal(0)
    by_category: dict[str, Decimal] = field(default_factory=dict)
    by_deployment: dict[str, Decimal] = field(default_factory=dict)


@dataclass
class MonthlyReport:
    month: date
    by: str  # team | cost_centre
    groups: list[ReportGroup]
    lines: list[dict]  # group, deployment, category, usd: the CSV's rows

    @property
    def total(self) -> Decimal:
        return sum((g.total for g in self.groups), Decimal(0))

    def as_dict(self) -> dict:
        return {
            "month": f"{self.month:%Y-%m}",
            "by": self.by,
            "currency": "USD",
            "total": str(cents(self.total)),
            "groups": [
                {
                    "name": g.name,
                    "cost_centre": g.cost_centre,
                    "total": str(cents(g.total)),
                    "by_category": {c: str(cents(v)) for c, v in sorted(g.by_category.items())},
                    "by_deployment": {d: str(cents(v)) for d, v in sorted(g.by_deployment.items())},
                }
                for g in self.groups
            ],
        }


def monthly_report(*, scope: CostScope, month: date, by: str = "team") -> MonthlyReport:
    """The month's costs per team (or cost centre), by category and deployment. Idle own
    hardware left to the platform is its own group, `__idle__`."""
    groups: dict[str, ReportGroup] = {}
    lines = []
    for row in cost_by_team_month(scope=scope, month=month):
        team = row["team_slug"] or IDLE_NAME
        centre = row["cost_centre"] or ("" if row["team_slug"] is None else "(none)")
        key = team if by == "team" else (centre or IDLE_NAME)
        group = groups.setdefault(key, ReportGroup(name=key, cost_centre=centre if by == "team" else key))
        deployment = f"{team}/{row['deployment_name']}" if row["deployment_name"] else IDLE_NAME
        usd = row["usd"] or Decimal(0)
        group.total += usd
        group.by_category[row["cat"]] = group.by_category.get(row["cat"], Decimal(0)) + usd
        group.by_deployment[deployment] = group.by_deployment.get(deployment, Decimal(0)) + usd
        lines.append({"group": key, "deployment": deployment, "category": row["cat"], "usd": usd})
    merged = defaultdict(Decimal)
    for line in lines:
        merged[(line["group"], line["deployment"], line["category"])] += line["usd"]
    lines = [
        {"group": g, "deployment": d, "category": c, "usd": v} for (g, d, c), v in sorted(merged.items())
    ]
    return MonthlyReport(
        month=month, by=by, groups=sorted(groups.values(), key=lambda g: (-g.total, g.name)), lines=lines
    )


CATEGORY_LABELS = dict(CostCategory.choices)
