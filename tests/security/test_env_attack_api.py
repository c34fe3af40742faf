"""The reported attack: deploy with PYTHONPATH pointing into the model folder. The API refuses it with
a 400 naming env.PYTHONPATH, and no deployment, revision or event is left behind."""

from deployments.models import Deployment, ModelArtifact
from deployments.services.targets import target_create


def test_pythonpath_deploy_is_refused_and_nothing_is_created(api_client, team, members):
    target_create(actor=members["owner"], name="local", kind="local", gpu_inventory={})
    artifact = ModelArtifact.objects.create(
        team=team,
        name="m",
        version=1,
        format="onnx",
        status="ready",
        inspection={"parameter_count": 15, "weight_bytes": 60},
    )
    api_client.force_authenticate(members["deployer"])
    response = api_client.post(
        f"/api/v1/teams/{team.slug}/deployments/",
        {
            "name": "svc",
            "target": "local",
            "model_id": artifact.pk,
            "env": {"PYTHONPATH": f"var/artifacts/artifacts/{team.slug}/m"},
        },
        format="json",
    )
    assert response.status_code == 400, response.content
    assert "env.PYTHONPATH" in response.content.decode()
    assert not Deployment.objects.filter(team=team).exists()
