from django.db import models


class MeterReading(models.Model):
    """Gateway counters popped from the data-plane store, written in the same step as the pop so a
    popped count is never lost. `hour` is the hour in which it was popped; the roll-up sums them."""

    deployment = models.ForeignKey(
        "deployments.Deployment", on_delete=models.CASCADE, related_name="meter_readings"
    )
    hour = models.DateTimeField(db_index=True)
    popped_at = models.DateTimeField()
    requests = models.BigIntegerField(default=0)
    errors = models.BigIntegerField(default=0)
    tokens_in = models.BigIntegerField(default=0)
    tokens_out = models.BigIntegerField(default=0)
    bytes_in = models.BigIntegerField(default=0)
    bytes_out = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["hour", "id"]
        indexes = [models.Index(fields=["deployment", "hour"], name="meter_reading_dep_hour")]


class UsageRecord(models.Model):
    """What one deployment used in one hour: exact replica- and GPU-seconds from the replica
    intervals, and the gateway's counts. One row per (deployment, hour); a re-run overwrites it
    with the same figures."""

    deployment = models.ForeignKey(
        "deployments.Deployment", on_delete=models.CASCADE, related_name="usage_records"
    )
    team = models.ForeignKey("tenancy.Team", on_delete=models.CASCADE, related_name="usage_records")
    target = models.ForeignKey("deployments.Target", on_delete=models.PROTECT, related_name="usage_records")
    hour = models.DateTimeField()
    replica_seconds = models.DecimalField(max_digits=14, decimal_places=3, default=0)
    gpu_seconds = models.DecimalField(max_digits=14, decimal_places=3, default=0)
    gpu_type = models.CharField(max_length=50, blank=True)
    requests = models.BigIntegerField(default=0)
    errors = models.BigIntegerField(default=0)
    tokens_in = models.BigIntegerField(default=0)
    tokens_out = models.BigIntegerField(default=0)
    bytes_in = models.BigIntegerField(default=0)
    bytes_out = models.BigIntegerField(default=0)
    computed_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["hour", "deployment"]
        constraints = [
            models.UniqueConstraint(fields=["deployment", "hour"], name="usage_record_unique_hour")
        ]
        indexes = [models.Index(fields=["team", "hour"], name="usage_record_team_hour")]

    def __str__(self) -> str:
        return f"{self.deployment_id} {self.hour:%Y-%m-%d %H:00}"
