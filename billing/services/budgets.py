"""Budgets: alerts at 50, 80 and 100 % of a team's monthly budget and on the month-end forecast,
each once per month; and optional enforcement at deploy and scale time."""

import calendar
import logging
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Q, Sum
from django.utils import timezone

from billing.choices import BudgetAlertKind, PriceTerm, PriceUnit
from billing.models import BudgetAlert, CostEntry
from controlplane.exceptions import ApplicationError

logger = logging.getLogger(__name__)
CENT = Decimal("0.01")
THRESHOLDS = (
    (BudgetAlertKind.PCT_50, Decimal("0.5")),
    (BudgetAlertKind.PCT_80, Decimal("0.8")),
    (BudgetAlertKind.PCT_100, Decimal("1")),
)


def _now() -> datetime:
    return timezone.now()  # one seam, so tests can set the clock


def month_bounds(when: datetime) -> tuple[datetime, datetime]:
    start = datetime(when.year, when.month, 1, tzinfo=UTC)
    days = calendar.monthrange(when.year, when.month)[1]
    return start, start + timedelta(days=days)


def team_spend(*, team, start: datetime, end: datetime) -> Decimal:
    total = CostEntry.objects.filter(team=team, hour__gte=start, hour__lt=end).aggregate(s=Sum("usd"))["s"]
    return total or Decimal(0)


def budget_status(*, team, now: datetime | None = None) -> dict:
    """Month to date, the month-end forecast from the run rate so far, and the budget."""
    now = now or _now()
    start, end = month_bounds(now)
    spent = team_spend(team=team, start=start, end=end)
    elapsed = Decimal(str(max((now - start).total_seconds(), 3600)))
    forecast = spent * Decimal(str((end - start).total_seconds())) / elapsed
    budget = team.monthly_budget
    return {
        "month": start.date(),
        "spent": spent.quantize(CENT, ROUND_HALF_UP),
        "forecast": forecast.quantize(CENT, ROUND_HALF_UP),
        "budget": budget,
        "percent": (spent * 100 / budget).quantize(Decimal("0.1")) if budget else None,
    }


def _notify(alert: BudgetAlert) -> None:
    from controlplane.tenancy.models import Membership
    from controlplane.tenancy.permissions import Role

    team = alert.team
    spent, forecast, budget = (
        Decimal(v).quantize(CENT) for v in (alert.spent_usd, alert.forecast_usd, alert.budget_usd)
    )
    subject = (
        f"[{team.slug}] budget {alert.get_kind_display()}: ${spent:,.2f} spent of ${budget:,.2f}, "
        f"forecast ${forecast:,.2f}"
    )
    recipients = sorted(
        set(
            Membership.objects.filter(team=team, role__in=[Role.OWNER, Role.ADMIN, Role.FINANCE])
            .exclude(user__email="")
            .values_list("user__email", flat=True)
        )
    )
    if recipients:
        send_mail(subject, subject, None, recipients, fail_silently=True)
    if settings.BILLING_BUDGET_WEBHOOK_URL:
        import httpx

        try:
            httpx.post(
                settings.BILLING_BUDGET_WEBHOOK_URL,
                timeout=5,
                json={
                    "team": team.slug,
                    "month": alert.month.isoformat(),
                    "kind": alert.kind,
                    "spent_usd": str(spent),
                    "forecast_usd": str(forecast),
                    "budget_usd": str(budget),
                },
            )
        except httpx.HTTPError:
            logger.warning("billing.budget.webhook_failed", extra={"alert_id": alert.pk})


def budget_alerts_check(*, team, now: datetime | None = None) -> list[BudgetAlert]:
    """Fire the thresholds the team has crossed this month and not fired yet: 50/80/100 % of the
    budget spent, and a forecast over budget. Each fires once per month (unique key); e-mail and
    webhook go out after commit. Returns the alerts fired by this call."""
    if not team.monthly_budget:
        return []
    status = budget_status(team=team, now=now)
    budget = team.monthly_budget
    due = [kind for kind, share in THRESHOLDS if status["spent"] >= budget * share]
    if status["forecast"] > budget:
        due.append(BudgetAlertKind.FORECAST)
    fired = []
    for kind in due:
        try:
            with transaction.atomic():
                alert = BudgetAlert.objects.create(
                    team=team,
                    month=status["month"],
                    kind=kind,
                    spent_usd=status["spent"],
                    forecast_usd=status["forecast"],
                    budget_usd=budget,
                )
        except IntegrityError:
            continue  # fired before
        transaction.on_commit(lambda a=alert: _notify(a))
        fired.append(alert)
    return fired


def budget_alerts_check_all(*, now: datetime | None = None) -> int:
    from controlplane.tenancy.models import Team

    return sum(len(budget_alerts_check(team=t, now=now)) for t in Team.objects.filter(monthly_budget__gt=0))


def spec_hourly_usd(*, target, gpu_type: str, gpu_count: int, replicas: int, at: datetime) -> Decimal:
    """Estimated USD per hour of `replicas` replicas with `gpu_count` GPUs each on `target`."""
    from billing.selectors.prices import cloud_catalog_item, price_at

    if not gpu_type or not gpu_count or not replicas:
        return Decimal(0)
    profile = target.onprem_profile
    if profile is not None:
        price = price_at(profile.item, at, unit=PriceUnit.GPU_HOUR)
        per_gpu = price.usd if price else Decimal(0)
    else:
        item = cloud_catalog_item(target=target, gpu_type=gpu_type, at=at)
        price = price_at(item, at, term=PriceTerm.ON_DEMAND, unit=PriceUnit.INSTANCE_HOUR) if item else None
        per_gpu = price.usd / item.gpu_count if price else Decimal(0)
    return per_gpu * gpu_count * replicas


def budget_enforce(*, team, target, spec: dict, deployment=None, now: datetime | None = None) -> None:
    """Called by deployment create and update: with enforcement on and a budget set, refuse a spec
    whose month estimate (spent so far + the rest of the month of the team's other live
    deployments and this one at max replicas) passes the budget. Raises ApplicationError naming
    the estimate and the budget on field max_replicas."""
    if not settings.BILLING_BUDGET_ENFORCEMENT or not team.monthly_budget:
        return
    from deployments.models import Deployment

    now = now or _now()
    start, end = month_bounds(now)
    hours_left = Decimal(str((end - now).total_seconds())) / 3600
    rate = spec_hourly_usd(
        target=target,
        gpu_type=spec.get("gpu_type", ""),
        gpu_count=spec.get("gpu_count", 0),
        replicas=spec.get("max_replicas", 0),
        at=now,
    )
    if deployment is not None:
        old = deployment.current_revision
        if old is not None and rate <= spec_hourly_usd(
            target=target, gpu_type=old.gpu_type, gpu_count=old.gpu_count, replicas=old.max_replicas, at=now
        ):
            return  # not a scale-up: never refuse a change that lowers the cost
    others = (
        Deployment.objects.filter(team=team, desired_state="running")
        .exclude(status="deleted")
        .exclude(Q(pk=deployment.pk) if deployment else Q(pk__in=[]))
        .select_related("target__onprem_profile__item", "current_revision")
    )
    for other in others:
        rev = other.current_revision
        if rev is not None:
            rate += spec_hourly_usd(
                target=other.target,
                gpu_type=rev.gpu_type,
                gpu_count=rev.gpu_count,
                replicas=rev.max_replicas,
                at=now,
            )
    spent = team_spend(team=team, start=start, end=end)
    estimate = (spent + rate * hours_left).quantize(CENT, ROUND_HALF_UP)
    if estimate > team.monthly_budget:
        raise ApplicationError(
            f"Estimated cost this month ${estimate:,.2f} (${spent.quantize(CENT):,.2f} spent + "
            f"${rate.quantize(CENT):,.2f}/h for {hours_left:.0f} h) would pass the team's monthly budget of "
            f"${team.monthly_budget:,.2f}.",
            extra={"field": "max_replicas"},
        )
