"""Env values under secret-looking names are write-only for every role: a viewer finds them in no API
response, timeline message, revision, console page or audit row, on create and on change."""

from deployments.models import ModelArtifact
from deployments.services.targets import target_create


def test_secret_looking_env_values_are_nowhere_a_member_reads(api_client, client, team, members):
    target_create(actor=members["owner"], name="local", kind="local", gpu_inventory={})
    artifact = ModelArtifact.objects.create(
        team=team, name="m", version=1, format="onnx", status="ready", inspection={"parameter_count": 15}
    )
    base = f"/api/v1/teams/{team.slug}/deployments/"
    api_client.force_authenticate(members["deployer"])
    created = api_client.post(
        base,
        {"name": "svc", "target": "local", "model_id": artifact.pk, "env": {"MY_API_TOKEN": "canary-one"}},
        format="json",
    )
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    changed = api_client.patch(
        f"{base}{pk}/", {"env": {"MY_API_TOKEN": "canary-two", "LOG_LEVEL": "debug"}}, format="json"
    )
    assert changed.status_code == 202, changed.content

    api_client.force_authenticate(members["viewer"])
    client.force_login(members["viewer"])
    pages = [
        api_client.get(base),
        api_client.get(f"{base}{pk}/"),
        api_client.get(f"{base}{pk}/revisions/"),
        api_client.get(f"{base}{pk}/events/"),
        client.get(f"/teams/{team.slug}/deployments/{pk}/"),
    ]
    api_client.force_authenticate(members["owner"])
    pages.append(api_client.get(f"/api/v1/teams/{team.slug}/audit-events/"))
    assert [p.status_code for p in pages] == [200] * len(pages)
    seen = "\n".join(p.content.decode() for p in pages)
    assert "canary-one" not in seen and "canary-two" not in seen
    assert "MY_API_TOKEN" in seen and "LOG_LEVEL=debug" in seen  # names, and harmless values, still show
