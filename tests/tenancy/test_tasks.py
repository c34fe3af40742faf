from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from controlplane.celery import app
from controlplane.tenancy.models import AuditEvent
from controlplane.tenancy.services import audit_record, audit_verify
from controlplane.tenancy.tasks import audit_purge_task
from tests.conftest import wait_until


def test_task_names_are_pinned():
    assert audit_purge_task.name == "tenancy.audit_purge"
    assert app.conf.beat_schedule["tenancy.audit_purge"]["task"] == "tenancy.audit_purge"


@pytest.mark.worker
def test_a_real_worker_runs_the_purge_through_redis(celery_worker_process):
    for i in range(3):
        audit_record(actor=None, action=f"test.old{i}", resource_type="thing")
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE tenancy_auditevent SET created_at = %s", [timezone.now() - timedelta(days=365)]
        )
    audit_record(actor=None, action="test.recent", resource_type="thing")

    audit_purge_task.delay()

    purge = wait_until(lambda: AuditEvent.objects.filter(action="audit.purge").first(), timeout=90)
    output = (
        ""
        if purge
        else celery_worker_process.stdout.read()
        if celery_worker_process.poll() is not None
        else ""
    )
    assert purge is not None, f"the worker never ran the task. {output}"
    assert purge.parameters["deleted"] == 3
    assert list(AuditEvent.objects.order_by("seq").values_list("action", flat=True)) == [
        "test.recent",
        "audit.purge",
    ]
    assert audit_verify()[1] == []
