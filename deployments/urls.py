from django.urls import path

from . import views

urlpatterns = [
    path("teams/<slug:slug>/models/", views.model_list, name="model-list"),
    path("teams/<slug:slug>/models/upload/", views.model_upload, name="model-upload"),
    path("teams/<slug:slug>/models/<int:pk>/", views.model_detail, name="model-detail"),
    path("teams/<slug:slug>/models/<int:pk>/delete/", views.model_delete, name="model-delete"),
]
