import secrets

import pytest
from django.db import IntegrityError, connection

from deployments.models import TeamSecret


@pytest.mark.django_db
def test_secret_value_is_stored_encrypted_and_reads_back(team):
    value = "hf_" + secrets.token_hex(16)
    secret = TeamSecret(team=team, name="HF_TOKEN")
    secret.set_value(value)
    secret.save()
    with connection.cursor() as cursor:
        cursor.execute("SELECT encrypted_value FROM deployments_teamsecret WHERE id = %s", [secret.id])
        (stored,) = cursor.fetchone()
    assert value not in stored
    assert TeamSecret.objects.get(pk=secret.pk).reveal() == value
    assert value not in str(secret)


@pytest.mark.django_db
def test_secret_name_is_unique_per_team(team):
    TeamSecret.objects.create(team=team, name="A_KEY", encrypted_value="x")
    with pytest.raises(IntegrityError):
        TeamSecret.objects.create(team=team, name="A_KEY", encrypted_value="y")
