from django.urls import path, register_converter

from . import artifacts, deployments, kubernetes, secrets, targets


class AnyFilePathConverter:
    """Every string, empty and newlines included (Django's `path` is `.+`, which stops at a newline
    and 404s the rest): a bad name must reach the view, which refuses it with a 400 naming `path`."""

    regex = r"[\s\S]*"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(AnyFilePathConverter, "filepath")

urlpatterns = [
    path("teams/<slug:slug>/models/", artifacts.ModelsApi.as_view(), name="models"),
    path("teams/<slug:slug>/models/<int:pk>/", artifacts.ModelDetailApi.as_view(), name="model-detail"),
    path(
        "teams/<slug:slug>/models/<int:pk>/files/<filepath:path>",
        artifacts.ModelFileApi.as_view(),
        name="model-file",
    ),
    path("teams/<slug:slug>/models/<int:pk>/uploads/", artifacts.UploadsApi.as_view(), name="model-uploads"),
    path(
        "teams/<slug:slug>/models/<int:pk>/uploads/<uuid:upload_id>/",
        artifacts.UploadDetailApi.as_view(),
        name="model-upload-detail",
    ),
    path(
        "teams/<slug:slug>/models/<int:pk>/complete",
        artifacts.ModelCompleteApi.as_view(),
        name="model-complete",
    ),
    path("teams/<slug:slug>/registry-policy", artifacts.RegistryPolicyApi.as_view(), name="registry-policy"),
    path("targets/", targets.TargetsApi.as_view(), name="targets"),
    path("teams/<slug:slug>/deployments/", deployments.DeploymentsApi.as_view(), name="deployments"),
    path(
        "teams/<slug:slug>/deployments/<int:pk>/",
        deployments.DeploymentDetailApi.as_view(),
        name="deployment-detail",
    ),
    path(
        "teams/<slug:slug>/deployments/<int:pk>/scale",
        deployments.DeploymentScaleApi.as_view(),
        name="deployment-scale",
    ),
    path(
        "teams/<slug:slug>/deployments/<int:pk>/pin",
        deployments.DeploymentPinApi.as_view(),
        name="deployment-pin",
    ),
    path(
        "teams/<slug:slug>/deployments/<int:pk>/rollback",
        deployments.DeploymentRollbackApi.as_view(),
        name="deployment-rollback",
    ),
    path(
        "teams/<slug:slug>/deployments/<int:pk>/stop",
        deployments.DeploymentStopApi.as_view(),
        name="deployment-stop",
    ),
    path(
        "teams/<slug:slug>/deployments/<int:pk>/start",
        deployments.DeploymentStartApi.as_view(),
        name="deployment-start",
    ),
    path(
        "teams/<slug:slug>/deployments/<int:pk>/revisions/",
        deployments.DeploymentRevisionsApi.as_view(),
        name="deployment-revisions",
    ),
    path(
        "teams/<slug:slug>/deployments/<int:pk>/events/",
        deployments.DeploymentEventsApi.as_view(),
        name="deployment-events",
    ),
    path("internal/deployments/wake", deployments.DeploymentWakeApi.as_view(), name="deployment-wake"),
    path(
        "targets/<int:pk>/credentials", kubernetes.TargetCredentialsApi.as_view(), name="target-credentials"
    ),
    path(
        "targets/<int:pk>/test-connection",
        kubernetes.TargetTestConnectionApi.as_view(),
        name="target-test-connection",
    ),
    path(
        "teams/<slug:slug>/deployments/<int:pk>/manifests",
        kubernetes.DeploymentManifestsApi.as_view(),
        name="deployment-manifests",
    ),
    path(
        "teams/<slug:slug>/deployments/<int:pk>/manifests.yaml",
        kubernetes.DeploymentManifestsYamlApi.as_view(),
        name="deployment-manifests-yaml",
    ),
    path("teams/<slug:slug>/secrets/", secrets.SecretsApi.as_view(), name="secrets"),
    path("teams/<slug:slug>/secrets/<str:name>/", secrets.SecretDetailApi.as_view(), name="secret-detail"),
]
