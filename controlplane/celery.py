"""The Celery app, its queues and the one beat schedule of the whole product."""

import os
from enum import StrEnum

from celery import Celery
from celery.schedules import crontab
from kombu import Queue as KombuQueue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlplane.settings.base")


class Queue(StrEnum):
    DEFAULT = "default"
    PROVISIONING = "provisioning"
    METERING = "metering"
    REPORTS = "reports"


app = Celery("controlplane")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_default_queue = Queue.DEFAULT
app.conf.task_queues = [KombuQueue(q.value) for q in Queue]
# Routing by task name, in one place (the per-task `queue` option is deprecated in Celery 5).
app.conf.task_routes = {
    "tenancy.*": {"queue": Queue.DEFAULT},
    "deployments.inspect_artifact": {"queue": Queue.DEFAULT},
    "deployments.expire_uploads": {"queue": Queue.DEFAULT},
    "deployments.reconcile_deployment": {"queue": Queue.PROVISIONING},
    "deployments.reconcile_sweep": {"queue": Queue.PROVISIONING},
    "deployments.autoscale": {"queue": Queue.PROVISIONING},
    "billing.meter_collect": {"queue": Queue.METERING},
    "billing.meter_usage_hour": {"queue": Queue.METERING},
    "billing.monthly_reports": {"queue": Queue.REPORTS},
}
app.autodiscover_tasks(["controlplane.tenancy", "deployments", "billing", "monitoring"])

BEAT_SCHEDULE = {
    # 03:17 UTC daily: purge audit events older than AUDIT_RETENTION_DAYS (off the top of the hour
    # so it never collides with hourly metering).
    "tenancy.audit_purge": {
        "task": "tenancy.audit_purge",
        "schedule": crontab(minute=17, hour=3),
        "options": {"expires": 3600},
    },
    # :41 every hour: drop resumable uploads nobody touched for two days, with their staging files.
    "deployments.expire_uploads": {
        "task": "deployments.expire_uploads",
        "schedule": crontab(minute=41),
        "options": {"expires": 1800},
    },
    # Every 30 s: reconcile every live deployment, so drift (a crashed replica, a lost task) is repaired.
    "deployments.reconcile_sweep": {
        "task": "deployments.reconcile_sweep",
        "schedule": 30.0,
        "options": {"expires": 25},
    },
    # Every AUTOSCALE_INTERVAL s (5): size local deployments from the gateway's counters.
    "deployments.autoscale": {
        "task": "deployments.autoscale",
        "schedule": float(os.environ.get("AUTOSCALE_INTERVAL", "5")),
        "options": {"expires": 4},
    },
    # Every minute: pop the gateway's meter counters into this hour's readings.
    "billing.meter_collect": {
        "task": "billing.meter_collect",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    # :05 every hour: roll up and price the hour that just ended, then check budgets.
    "billing.meter_usage_hour": {
        "task": "billing.meter_usage_hour",
        "schedule": crontab(minute=5),
        "options": {"expires": 3000},
    },
    # 02:30 UTC on the 1st: last month's finance reports (after the last hour was priced at 00:05).
    "billing.monthly_reports": {
        "task": "billing.monthly_reports",
        "schedule": crontab(minute=30, hour=2, day_of_month=1),
        "options": {"expires": 86400},
    },
}
app.conf.beat_schedule = BEAT_SCHEDULE
