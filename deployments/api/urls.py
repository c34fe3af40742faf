from django.urls import path, register_converter

from . import deployment_views as dv
from . import kubernetes_views as kv
from . import secret_views as sv
from . import views


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
    path("teams/<slug:slug>/models/", views.ModelsApi.as_view(), name="models"),
    path("teams/<slug:slug>/models/<int:pk>/", views.ModelDetailApi.as_view(), name="model-detail"),
    path(
        "teams/<slug:slug>/models/<int:pk>/files/<filepath:path>",
        views.ModelFileApi.as_view(),
        name="model-file",
    ),
    path("teams/<slug:slug>/models/<int:pk>/uploads/", views.UploadsApi.as_view(), name="model-uploads"),
    path(
        "teams/<slug:slug>/models/<int:pk>/uploads/<uuid:upload_id>/",
        views.UploadDetailApi.as_view(),
        name="model-upload-detail",
    ),
    path(
        "teams/<slug:slug>/models/<int:pk>/complete", views.ModelCompleteApi.as_view(), name="model-complete"
    ),
    path("teams/<slug:slug>/registry-policy", views.RegistryPolicyApi.as_view(), name="registry-policy"),
]


urlpatterns += [
    path("targets/", dv.TargetsApi.as_view(), name="targets"),
    path("teams/<slug:slug>/deployments/", dv.DeploymentsApi.as_view(), name="deployments"),
    path(
        "teams/<slug:slug>/deployments/<int:pk>/", dv.DeploymentDetailApi.as_view(), name="deployment-detail"
    ),
    path(
        "teams/<slug:slug>/deployments/<int:pk>/scale",
        dv.DeploymentScaleApi.as_view(),
        name="deployment-scale",
    ),
    path("teams/<slug:slug>/deployments/<int:pk>/pin", dv.DeploymentPinApi.as_view(), name="deployment-pin"),
    path(
        "teams/<slug:slug>/deployments/<int:pk>/rollback",
        dv.DeploymentRollbackApi.as_view(),
        name="deployment-rollback",
    ),
    path(
        "teams/<slug:slug>/deployments/<int:pk>/stop", dv.DeploymentStopApi.as_view(), name="deployment-stop"
    ),
    path(
        "teams/<slug:slug>/deployments/<int:pk>/start",
        dv.DeploymentStartApi.as_view(),
        name="deployment-start",
    ),
    path(
        "teams/<slug:slug>/deployments/<int:pk>/revisions/",
        dv.DeploymentRevisionsApi.as_view(),
        name="deployment-revisions",
    ),
    path(
        "teams/<slug:slug>/deployments/<int:pk>/events/",
        dv.DeploymentEventsApi.as_view(),
        name="deployment-events",
    ),
    path("internal/deployments/wake", dv.DeploymentWakeApi.as_view(), name="deployment-wake"),
]


urlpatterns += [
    path("targets/<int:pk>/credentials", kv.TargetCredentialsApi.as_view(), name="target-credentials"),
    path(
        "targets/<int:pk>/test-connection",
        kv.TargetTestConnectionApi.as_view(),
        name="target-test-connection",
    ),
    path(
        "teams/<slug:slug>/deployments/<int:pk>/manifests",
        kv.DeploymentManifestsApi.as_view(),
        name="deployment-manifests",
    ),
    path(
        "teams/<slug:slug>/deployments/<int:pk>/manifests.yaml",
        kv.DeploymentManifestsYamlApi.as_view(),
        name="deployment-manifests-yaml",
    ),
]


urlpatterns += [
    path("teams/<slug:slug>/secrets/", sv.SecretsApi.as_view(), name="secrets"),
    path("teams/<slug:slug>/secrets/<str:name>/", sv.SecretDetailApi.as_view(), name="secret-detail"),
]
