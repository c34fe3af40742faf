from django.urls import path

from . import views

urlpatterns = [
    path("teams/<slug:slug>/models/", views.ModelsApi.as_view(), name="models"),
    path("teams/<slug:slug>/models/<int:pk>/", views.ModelDetailApi.as_view(), name="model-detail"),
    path("teams/<slug:slug>/models/<int:pk>/files/<path:path>", views.ModelFileApi.as_view(), name="model-file"),
    path("teams/<slug:slug>/models/<int:pk>/uploads/", views.UploadsApi.as_view(), name="model-uploads"),
    path("teams/<slug:slug>/models/<int:pk>/uploads/<uuid:upload_id>/", views.UploadDetailApi.as_view(),
         name="model-upload-detail"),
    path("teams/<slug:slug>/models/<int:pk>/complete", views.ModelCompleteApi.as_view(), name="model-complete"),
    path("teams/<slug:slug>/registry-policy", views.RegistryPolicyApi.as_view(), name="registry-policy"),
]
