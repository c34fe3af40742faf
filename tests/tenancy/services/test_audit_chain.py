from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from controlplane.tenancy.models import AuditEvent
from controlplane.tenancy.services import audit_purge, audit_record, audit_verify
from tests.factories.tenancy import UserFactory


@pytest.fixture
def chain(db):
    actor = UserFactory(username="auditor")
    return [
        audit_record(
            actor=actor,
            action=f"test.step{i}",
            resource_type="thing",
            resource_id=i,
            parameters={"i": i, "budget": "12.50"},
        )
        for i in range(5)
    ]


def _raw(sql: str, *params):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def test_untouched_log_verifies(chain, capsys):
    assert audit_verify() == (5, [])
    call_command("verify_audit")
    assert "audit log intact: 5 rows verified" in capsys.readouterr().out


def test_edited_row_is_named(chain, capsys):
    _raw(
        "UPDATE tenancy_auditevent SET parameters = %s WHERE seq = %s",
        '{"i": 99, "budget": "12.50"}',
        chain[2].seq,
    )
    with pytest.raises(CommandError, match="1 problem"):
        call_command("verify_audit")
    assert f"row #{chain[2].seq} edited" in capsys.readouterr().err


def test_deleted_row_in_the_middle_is_named(chain, capsys):
    _raw("DELETE FROM tenancy_auditevent WHERE seq = %s", chain[1].seq)
    with pytest.raises(CommandError):
        call_command("verify_audit")
    assert f"row #{chain[1].seq} deleted" in capsys.readouterr().err


def test_deleted_newest_rows_are_named(chain, capsys):
    _raw("DELETE FROM tenancy_auditevent WHERE seq >= %s", chain[3].seq)
    with pytest.raises(CommandError):
        call_command("verify_audit")
    assert f"row #{chain[3].seq} to #{chain[4].seq} deleted" in capsys.readouterr().err


def test_rewritten_hash_is_caught_by_the_next_link(chain):
    """An attacker who edits a row and recomputes its hash still breaks the following row's link."""
    from controlplane.tenancy.services.audit import audit_event_digest

    event = AuditEvent.objects.get(seq=chain[2].seq)
    event.action = "test.forged"
    forged = audit_event_digest(event)
    _raw(
        "UPDATE tenancy_auditevent SET action = %s, hash = %s WHERE seq = %s",
        "test.forged",
        forged,
        event.seq,
    )
    _, problems = audit_verify()
    assert [p.seq for p in problems] == [chain[3].seq]


def test_events_cannot_be_changed_through_the_orm(chain):
    with pytest.raises(TypeError):
        AuditEvent.objects.filter(seq=chain[0].seq).update(action="x")
    event = AuditEvent.objects.get(seq=chain[0].seq)
    with pytest.raises(TypeError):
        event.save()
    with pytest.raises(TypeError):
        event.delete()


def test_purge_drops_old_rows_and_the_chain_still_verifies(chain):
    old = timezone.now() - timedelta(days=200)
    _raw("UPDATE tenancy_auditevent SET created_at = %s WHERE seq <= %s", old, chain[1].seq)
    # Moving created_at edits those rows, but they are exactly the ones the purge removes.
    assert audit_purge() == 2
    assert audit_verify() == (4, [])  # 3 left + the purge's own event
    purge_event = AuditEvent.objects.order_by("-seq").first()
    assert purge_event.action == "audit.purge" and purge_event.parameters["deleted"] == 2
    assert audit_purge() == 0  # idempotent: nothing more to drop, nothing more recorded
    assert AuditEvent.objects.count() == 4


def test_writes_survive_a_missing_chain_row(chain):
    """A database flush (as transactional tests do) removes the migration's chain row."""
    from controlplane.tenancy.models import AuditChain

    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM tenancy_auditevent")
    AuditChain.objects.all().delete()
    audit_record(actor=None, action="test.after_flush", resource_type="thing")
    assert audit_verify() == (1, [])
