"""The console's Secrets page: admins set and rotate, everyone in the team sees names only, the
value is in no page, and a secret in use cannot be deleted. The wizard offers the team's secrets."""

import pytest

from controlplane.tenancy.models import AuditEvent
from deployments.models import Deployment, ModelArtifact, Target, TeamSecret
from deployments.services.targets import target_create


@pytest.fixture
def artifact(team):
    return ModelArtifact.objects.create(
        team=team, name="m", version=1, format="onnx", status="ready", inspection={"parameter_count": 15}
    )


def test_set_rotate_list_and_refuse_delete_in_use(
    client, team, members, artifact, django_capture_on_commit_callbacks
):
    target_create(actor=members["owner"], name="local", kind="local", gpu_inventory={})
    page = f"/teams/{team.slug}/secrets/"
    client.force_login(members["admin"])
    response = client.post(page, {"name": "HF_TOKEN", "value": "console-canary-1"})
    assert response.status_code == 302
    assert TeamSecret.objects.get(team=team, name="HF_TOKEN").reveal() == "console-canary-1"

    wizard = client.get(f"/teams/{team.slug}/deployments/new/")
    assert b'value="HF_TOKEN"' in wizard.content
    created = client.post(
        f"/teams/{team.slug}/deployments/new/",
        {
            "name": "svc",
            "artifact": artifact.pk,
            "target": Target.objects.get(name="local").pk,
            "gpu_count": 0,
            "min_replicas": 1,
            "max_replicas": 1,
            "scaling_metric": "concurrency",
            "scaling_target": 4,
            "scale_up_window_s": 0,
            "scale_down_window_s": 300,
            "secrets": ["HF_TOKEN"],
        },
    )
    assert created.status_code == 302, created.content.decode()[:2000]
    deployment = Deployment.objects.get(team=team, name="svc")
    assert deployment.current_revision.secrets == {"HF_TOKEN": "HF_TOKEN"}

    with django_capture_on_commit_callbacks(execute=False):
        assert client.post(page, {"name": "HF_TOKEN", "value": "console-canary-2"}).status_code == 302
    assert deployment.events.filter(kind="secret_rotated").exists()

    refused = client.post(f"{page}HF_TOKEN/delete/", follow=True)
    assert "in use by svc" in refused.content.decode()
    assert TeamSecret.objects.filter(team=team, name="HF_TOKEN").exists()
    assert AuditEvent.objects.filter(action="secret.delete", result="failure").exists()

    for user in ("viewer", "admin"):
        client.force_login(members[user])
        listing = client.get(page).content.decode()
        detail = client.get(f"/teams/{team.slug}/deployments/{deployment.pk}/").content.decode()
        assert "HF_TOKEN" in listing and "svc" in listing
        assert "secret:HF_TOKEN" in detail
        for value in ("console-canary-1", "console-canary-2"):
            assert value not in listing and value not in detail


def test_viewer_cannot_set_and_outsider_gets_404(client, team, members):
    page = f"/teams/{team.slug}/secrets/"
    client.force_login(members["viewer"])
    assert b"Set a secret" not in client.get(page).content
    assert client.post(page, {"name": "HF_TOKEN", "value": "x"}).status_code == 403
    client.force_login(members["outsider"])
    assert client.get(page).status_code == 404
    assert not TeamSecret.objects.exists()
