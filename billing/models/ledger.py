from django.db import models

from billing.choices import CostCategory


class CostEntry(models.Model):
    """One priced line of the ledger: a team's cost in one category for one hour, from one usage
    record at one price. A price change inside the hour gives two lines, each with its own price.

    Idle on-premises capacity left to the platform has no team, deployment or usage record."""

    hour = models.DateTimeField()
    team = models.ForeignKey(
        "tenancy.Team", null=True, blank=True, on_delete=models.CASCADE, related_name="cost_entries"
    )
    deployment = models.ForeignKey(
        "deployments.Deployment", null=True, blank=True, on_delete=models.CASCADE, related_name="cost_entries"
    )
    target = models.ForeignKey("deployments.Target", on_delete=models.PROTECT, related_name="cost_entries")
    usage_record = models.ForeignKey(
        "billing.UsageRecord", null=True, blank=True, on_delete=models.CASCADE, related_name="cost_entries"
    )
    category = models.CharField(max_length=24, choices=CostCategory.choices)
    price = models.ForeignKey("billing.Price", on_delete=models.PROTECT, related_name="cost_entries")
    quantity = models.DecimalField(max_digits=16, decimal_places=3, help_text="GPU-seconds (or requests).")
    # USD per unit of quantity as applied: for own hardware the price × the utilisation it assumed,
    # because idle hours are their own line here.
    rate_usd = models.DecimalField(max_digits=20, decimal_places=12)
    usd = models.DecimalField(max_digits=20, decimal_places=10)

    class Meta:
        ordering = ["hour", "team", "deployment", "category"]
        indexes = [
            models.Index(fields=["team", "hour"], name="cost_entry_team_hour"),
            models.Index(fields=["hour"], name="cost_entry_hour"),
        ]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H:00} {self.category} {self.usd}"
