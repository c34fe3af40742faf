"""Budgets over the hand-computed day (tests/billing/conftest.py): on 11 March 2026 alpha has spent
$72.75 this month, 10 of 31 days are over and 504 hours are left. The cloud target charges $3.00
per GPU-hour since 10 March 12:30."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from billing.models import BudgetAlert
from billing.services import budgets
from controlplane.exceptions import ApplicationError
from deployments.models import ModelArtifact
from deployments.services.deployments import deployment_create, deployment_scale
from tests.billing.conftest import meter_day

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 3, 11, tzinfo=UTC)


@pytest.fixture
def spent(ledger_world, members, monkeypatch):
    meter_day()
    monkeypatch.setattr(budgets, "_now", lambda: NOW)
    return ledger_world


def set_budget(team, usd):
    team.monthly_budget = Decimal(usd)
    team.save(update_fields=["monthly_budget"])


def test_a_scale_up_past_the_budget_is_refused_naming_estimate_and_budget(spent, members, settings):
    settings.BILLING_BUDGET_ENFORCEMENT = True
    alpha = spent["alpha"]
    set_budget(alpha, 2000)
    artifact = ModelArtifact.objects.create(
        team=alpha,
        name="m",
        version=1,
        format="onnx",
        status="ready",
        inspection={"parameter_count": 15, "weight_bytes": 60},
    )
    # $72.75 spent + 1 GPU × $3.00 × 504 h = $1,584.75 ≤ $2,000: allowed.
    svc = deployment_create(
        team=alpha,
        actor=members["deployer"],
        name="svc",
        target=spent["cloud"],
        artifact=artifact,
        gpu_type="g48",
        gpu_count=1,
        max_replicas=1,
    )
    # 2 replicas: $72.75 + $6.00 × 504 h = $3,096.75 > $2,000: refused, nothing changes.
    with pytest.raises(ApplicationError) as error:
        deployment_scale(deployment=svc, actor=members["deployer"], min_replicas=1, max_replicas=2)
    assert error.value.extra == {"field": "max_replicas"}
    assert "$3,096.75" in error.value.message and "$2,000.00" in error.value.message
    svc.refresh_from_db()
    assert svc.current_revision.max_replicas == 1
    # A new deployment counts the live ones: $72.75 + ($3 + $3) × 504 h = $3,096.75 again.
    with pytest.raises(ApplicationError, match=r"\$3,096\.75.*\$2,000\.00"):
        deployment_create(
            team=alpha,
            actor=members["deployer"],
            name="svc2",
            target=spent["cloud"],
            artifact=artifact,
            gpu_type="g48",
            gpu_count=1,
            max_replicas=1,
        )
    # Enforcement off (the default): the same scale-up goes through.
    settings.BILLING_BUDGET_ENFORCEMENT = False
    assert (
        deployment_scale(
            deployment=svc, actor=members["deployer"], min_replicas=1, max_replicas=2
        ).current_revision.max_replicas
        == 2
    )


def test_each_threshold_alerts_once_per_month(
    spent, members, settings, mailoutbox, django_capture_on_commit_callbacks, monkeypatch
):
    posted = []
    settings.BILLING_BUDGET_WEBHOOK_URL = "http://hooks.example/budget"
    monkeypatch.setattr("httpx.post", lambda url, **kw: posted.append((url, kw["json"])))
    alpha = spent["alpha"]

    def check():
        with django_capture_on_commit_callbacks(execute=True):
            return sorted(a.kind for a in budgets.budget_alerts_check(team=alpha))

    set_budget(alpha, 140)  # 72.75 ÷ 140 = 52 %; forecast 72.75 × 31 ÷ 10 = $225.53 > $140
    assert budgets.budget_status(team=alpha)["forecast"] == Decimal("225.53")
    assert check() == ["50", "forecast"]
    assert check() == []  # once per threshold per month
    set_budget(alpha, 80)  # 91 %
    assert check() == ["80"]
    set_budget(alpha, 70)  # 104 %
    assert check() == ["100"]
    assert check() == []
    assert BudgetAlert.objects.filter(team=alpha).count() == 4
    assert len(mailoutbox) == 4 and len(posted) == 4
    assert sorted(mailoutbox[0].to) == ["admin@example.com", "finance@example.com", "owner@example.com"]
    assert "$72.75 spent of $140.00" in mailoutbox[0].subject
    assert posted[-1] == (
        "http://hooks.example/budget",
        {
            "team": "alpha",
            "month": "2026-03-01",
            "kind": "100",
            "spent_usd": "72.75",
            "forecast_usd": "225.53",
            "budget_usd": "70.00",
        },
    )
    assert budgets.budget_alerts_check(team=spent["gamma"]) == []  # no budget, no alerts
