from django.urls import path

from . import views, views_deployments

urlpatterns = [
    path("teams/<slug:slug>/models/", views.model_list, name="model-list"),
    path("teams/<slug:slug>/models/upload/", views.model_upload, name="model-upload"),
    path("teams/<slug:slug>/models/<int:pk>/", views.model_detail, name="model-detail"),
    path("teams/<slug:slug>/models/<int:pk>/delete/", views.model_delete, name="model-delete"),
    path("teams/<slug:slug>/deployments/", views_deployments.deployment_list_view, name="deployment-list"),
    path("teams/<slug:slug>/deployments/new/", views_deployments.deployment_new, name="deployment-new"),
    path("teams/<slug:slug>/deployments/<int:pk>/", views_deployments.deployment_detail, name="deployment-detail"),
    # <action>: scale, pin, unpin, stop, start, rollback or delete (anything else is a 404)
    path("teams/<slug:slug>/deployments/<int:pk>/<slug:action>/", views_deployments.deployment_action,
         name="deployment-action"),
]
