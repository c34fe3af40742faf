from django.urls import path

from . import views

app_name = "billing"

urlpatterns = [
    path("catalog/", views.catalog, name="catalog"),
    path("catalog/items/new/", views.item_new, name="item-new"),
    path("catalog/items/<int:pk>/", views.item_detail, name="item"),
    path("catalog/gpus/new/", views.gpu_type_new, name="gpu-new"),
    path("catalog/gpus/<slug:slug>/edit/", views.gpu_type_edit, name="gpu-edit"),
    path("onprem/", views.onprem_list, name="onprem"),
    path("onprem/new/", views.onprem_new, name="onprem-new"),
    path("onprem/<slug:slug>/", views.onprem_detail, name="onprem-detail"),
    path("tco/", views.tco, name="tco"),
    path("dashboard/", views.cost_dashboard, name="dashboard"),
]
