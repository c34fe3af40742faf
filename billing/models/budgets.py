from django.db import models

from billing.choices import BudgetAlertKind


class BudgetAlert(models.Model):
    """A budget threshold crossed by a team in a month. The unique key makes each fire once."""

    team = models.ForeignKey("tenancy.Team", on_delete=models.CASCADE, related_name="budget_alerts")
    month = models.DateField(help_text="First day of the month.")
    kind = models.CharField(max_length=10, choices=BudgetAlertKind.choices)
    spent_usd = models.DecimalField(max_digits=14, decimal_places=2)
    forecast_usd = models.DecimalField(max_digits=14, decimal_places=2)
    budget_usd = models.DecimalField(max_digits=14, decimal_places=2)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-month", "team", "created_at"]
        constraints = [models.UniqueConstraint(fields=["team", "month", "kind"], name="budget_alert_once")]

    def __str__(self) -> str:
        return f"{self.team_id} {self.month:%Y-%m} {self.kind}"
