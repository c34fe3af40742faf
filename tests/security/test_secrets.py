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


@pytest.mark.django_db
def test_set_rotate_delete_audit_names_never_values(team, members):
    from controlplane.tenancy.models import AuditEvent
    from deployments.services.secrets import secret_delete, secret_set

    owner = members["owner"]
    first, second = secrets.token_hex(16), secrets.token_hex(16)
    secret_set(team=team, name="HF_TOKEN", value=first, actor=owner)
    secret = secret_set(team=team, name="HF_TOKEN", value=second, actor=owner)
    assert secret.reveal() == second
    secret_delete(secret=secret, actor=owner)
    rows = list(AuditEvent.objects.filter(resource_type="secret").order_by("seq"))
    assert [r.action for r in rows] == ["secret.create", "secret.rotate", "secret.delete"]
    dumped = repr([(r.parameters, r.error, r.resource_id) for r in rows])
    assert first not in dumped and second not in dumped


@pytest.mark.django_db
@pytest.mark.parametrize(
    "method,path,body",
    [("post", "", {"name": "hf-token", "value": "x"}), ("put", "hf-token/", {"value": "x"})],
)
def test_bad_name_is_a_json_field_error_and_nothing_is_stored(team, members, api_client, method, path, body):
    api_client.force_authenticate(members["owner"])
    response = getattr(api_client, method)(f"/api/v1/teams/{team.slug}/secrets/{path}", body, format="json")
    assert response.status_code == 400, response.content
    assert list(response.json()["error"]["fields"]) == ["name"]
    assert not TeamSecret.objects.filter(team=team).exists()


@pytest.mark.django_db
def test_api_is_write_only_and_viewer_cannot_set(team, members, api_client):
    value = secrets.token_hex(16)
    api_client.force_authenticate(members["owner"])
    url = f"/api/v1/teams/{team.slug}/secrets/"
    created = api_client.post(url, {"name": "HF_TOKEN", "value": value}, format="json")
    assert created.status_code == 201, created.content
    rotated = api_client.put(f"{url}HF_TOKEN/", {"value": secrets.token_hex(8)}, format="json")
    assert rotated.status_code == 200
    api_client.force_authenticate(members["viewer"])
    listed = api_client.get(url)
    assert listed.status_code == 200 and "HF_TOKEN" in listed.content.decode()
    assert api_client.post(url, {"name": "X", "value": "y"}, format="json").status_code == 403
    assert api_client.delete(f"{url}HF_TOKEN/").status_code == 403
    for response in (created, rotated, listed):
        assert value not in response.content.decode()
    api_client.force_authenticate(members["outsider"])
    assert api_client.get(url).status_code == 404


@pytest.mark.django_db(transaction=True)
def test_cli_sets_lists_deletes_and_never_prints_the_value(live_server, team, members, make_token, tmp_path):
    import io

    from deployments import cli

    value = secrets.token_hex(16)
    _, token = make_token(members["owner"], team)
    source = tmp_path / "token.txt"
    source.write_text(value + "\n")

    def run(*argv):
        out, err = io.StringIO(), io.StringIO()
        code = cli.main(
            ["--url", live_server.url, "--token", token, "--team", team.slug, *argv], out=out, err=err
        )
        return code, out.getvalue() + err.getvalue()

    results = [
        run("secrets", "set", "HF_TOKEN", "--from-file", str(source)),
        run("secrets", "list"),
        run("secrets", "delete", "HF_TOKEN"),
    ]
    assert [code for code, _ in results] == [0, 0, 0], results
    assert "HF_TOKEN" in results[1][1]
    assert all(value not in text for _, text in results)
    assert not TeamSecret.objects.filter(team=team).exists()


def test_env_values_under_secret_ish_names_are_masked_and_refs_show_names():
    from deployments.masking import mask_env

    masked = mask_env({"HF_TOKEN": "hf_x", "API_KEY": "k", "LOG_LEVEL": "info", "T": {"secretRef": "HF"}})
    assert masked == {"HF_TOKEN": "***", "API_KEY": "***", "LOG_LEVEL": "info", "T": {"secretRef": "HF"}}


def test_nested_env_in_event_data_is_masked():
    from deployments.masking import mask_env_in

    data = {"changes": {"env": {"HF_TOKEN": "v", "X": "1"}}, "items": [{"env": {"DB_PASSWORD": "p"}}]}
    assert mask_env_in(data) == {
        "changes": {"env": {"HF_TOKEN": "***", "X": "1"}},
        "items": [{"env": {"DB_PASSWORD": "***"}}],
    }
