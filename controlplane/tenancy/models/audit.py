from django.db import models


class AuditResult(models.TextChoices):
    SUCCESS = "success", "Success"
    FAILURE = "failure", "Failure"


class AuditQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise TypeError("audit events are append-only")


class AuditEvent(models.Model):
    """Append-only record of one mutating action. Actor and team are copied as plain values, not
    foreign keys, so deleting a user or team never rewrites history (and never breaks the chain).

    `hash` = SHA-256 over the row's canonical content and `prev_hash`; `seq` has no gaps, so an
    edited row breaks its own hash and a deleted row breaks the sequence."""

    seq = models.BigIntegerField(unique=True)
    created_at = models.DateTimeField(db_index=True)
    actor_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    actor_label = models.CharField(max_length=200)
    token_id = models.BigIntegerField(null=True, blank=True)
    team_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    team_slug = models.CharField(max_length=40, blank=True)
    resource_type = models.CharField(max_length=50, db_index=True)
    resource_id = models.CharField(max_length=100, blank=True)
    action = models.CharField(max_length=80, db_index=True)
    parameters = models.JSONField(default=dict, blank=True)
    result = models.CharField(max_length=10, choices=AuditResult.choices)
    error = models.TextField(blank=True)
    client_address = models.GenericIPAddressField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    objects = AuditQuerySet.as_manager()

    class Meta:
        ordering = ["-seq"]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} by {self.actor_label}: {self.result}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise TypeError("audit events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("audit events are append-only; retention purges them")


GENESIS_HASH = "0" * 64


class AuditChain(models.Model):
    """The chain's two ends, in one row that every writer locks: where it starts after retention
    purged older rows (the last purged seq and its hash), and its head, so that deleting the newest
    rows is found too."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    purged_through_seq = models.BigIntegerField(default=0)
    purged_through_hash = models.CharField(max_length=64, default=GENESIS_HASH)
    head_seq = models.BigIntegerField(default=0)
    head_hash = models.CharField(max_length=64, default=GENESIS_HASH)
