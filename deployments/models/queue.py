from django.db import models


class ReconcileTicket(models.Model):
    """The reconcile work queue's state for one deployment, as controller-runtime keeps it in
    memory: at most one task is queued (`ticket`) and one runs (the deployment lock) at a time.
    A task whose ticket was replaced leaves at once, so a burst of changes and sweeps never turns
    into a burst of reconciles."""

    deployment = models.OneToOneField(
        "deployments.Deployment", primary_key=True, on_delete=models.CASCADE, related_name="+"
    )
    ticket = models.CharField(max_length=32, blank=True)  # the queued task's; empty: none queued
    due_at = models.DateTimeField(null=True)  # when the queued task runs
    # A change arrived while a reconcile ran: the holder runs again at once when it finishes.
    dirty = models.BooleanField(default=False)
    backoff_s = models.FloatField(default=0.0)  # the interval of the last requeue of an unsettled one
    progress = models.CharField(max_length=64, blank=True)  # what the last reconcile saw, hashed
    failing_since = models.DateTimeField(null=True)  # first transient error of the current streak
    last_error = models.CharField(max_length=1000, blank=True)
