from django.urls import path

from . import views

urlpatterns = [
    path("gpu-types/", views.GpuTypesApi.as_view(), name="billing-gpu-types"),
    path("gpu-types/<slug:slug>/", views.GpuTypeDetailApi.as_view(), name="billing-gpu-type-detail"),
    path("gpu-prices/", views.GpuPricesApi.as_view(), name="billing-gpu-prices"),
    path("items/", views.CatalogItemsApi.as_view(), name="billing-items"),
    path("items/<int:pk>/", views.CatalogItemDetailApi.as_view(), name="billing-item-detail"),
    path("items/<int:pk>/prices/", views.ItemPricesApi.as_view(), name="billing-item-prices"),
    path("onprem-profiles/", views.OnPremProfilesApi.as_view(), name="billing-onprem-profiles"),
    path(
        "onprem-profiles/<slug:slug>/",
        views.OnPremProfileDetailApi.as_view(),
        name="billing-onprem-profile-detail",
    ),
    path("tco/", views.TcoApi.as_view(), name="billing-tco"),
]
