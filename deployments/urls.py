from django.urls import path

from .views import artifacts, deployments, kubernetes, secrets

urlpatterns = [
    path("teams/<slug:slug>/models/", artifacts.model_list, name="model-list"),
    path("teams/<slug:slug>/models/upload/", artifacts.model_upload, name="model-upload"),
    path("teams/<slug:slug>/models/<int:pk>/", artifacts.model_detail, name="model-detail"),
    path("teams/<slug:slug>/models/<int:pk>/delete/", artifacts.model_delete, name="model-delete"),
    path("teams/<slug:slug>/deployments/", deployments.deployment_list_view, name="deployment-list"),
    path("teams/<slug:slug>/deployments/new/", deployments.deployment_new, name="deployment-new"),
    path(
        "teams/<slug:slug>/deployments/<int:pk>/",
        deployments.deployment_detail,
        name="deployment-detail",
    ),
    # <action>: scale, pin, unpin, stop, start, rollback or delete (anything else is a 404)
    path(
        "teams/<slug:slug>/deployments/<int:pk>/<slug:action>/",
        deployments.deployment_action,
        name="deployment-action",
    ),
    path("teams/<slug:slug>/secrets/", secrets.secret_list_view, name="secret-list"),
    path("teams/<slug:slug>/secrets/<str:name>/delete/", secrets.secret_delete_view, name="secret-delete"),
    path("targets/<int:pk>/kubernetes/", kubernetes.kubernetes_target, name="kubernetes-target"),
    path(
        "targets/<int:pk>/kubernetes/test-connection/",
        kubernetes.kubernetes_test_connection,
        name="kubernetes-test-connection",
    ),
    path(
        "teams/<slug:slug>/deployments/<int:pk>/manifests.yaml",
        kubernetes.deployment_manifests_download,
        name="deployment-manifests-yaml",
    ),
]
