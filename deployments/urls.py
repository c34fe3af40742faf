from django.urls import path

from . import kubernetes_views, views, views_deployments, views_secrets

urlpatterns = [
    path("teams/<slug:slug>/models/", views.model_list, name="model-list"),
    path("teams/<slug:slug>/models/upload/", views.model_upload, name="model-upload"),
    path("teams/<slug:slug>/models/<int:pk>/", views.model_detail, name="model-detail"),
    path("teams/<slug:slug>/models/<int:pk>/delete/", views.model_delete, name="model-delete"),
    path("teams/<slug:slug>/deployments/", views_deployments.deployment_list_view, name="deployment-list"),
    path("teams/<slug:slug>/deployments/new/", views_deployments.deployment_new, name="deployment-new"),
    path(
        "teams/<slug:slug>/deployments/<int:pk>/",
        views_deployments.deployment_detail,
        name="deployment-detail",
    ),
    # <action>: scale, pin, unpin, stop, start, rollback or delete (anything else is a 404)
    path(
        "teams/<slug:slug>/deployments/<int:pk>/<slug:action>/",
        views_deployments.deployment_action,
        name="deployment-action",
    ),
    path("teams/<slug:slug>/secrets/", views_secrets.secret_list_view, name="secret-list"),
    path(
        "teams/<slug:slug>/secrets/<str:name>/delete/", views_secrets.secret_delete_view, name="secret-delete"
    ),
]


urlpatterns += [
    path("targets/<int:pk>/kubernetes/", kubernetes_views.kubernetes_target, name="kubernetes-target"),
    path(
        "targets/<int:pk>/kubernetes/test-connection/",
        kubernetes_views.kubernetes_test_connection,
        name="kubernetes-test-connection",
    ),
    path(
        "teams/<slug:slug>/deployments/<int:pk>/manifests.yaml",
        kubernetes_views.deployment_manifests_download,
        name="deployment-manifests-yaml",
    ),
]
