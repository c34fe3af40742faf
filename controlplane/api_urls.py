from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

app_name = "api"

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    path("", include("controlplane.tenancy.api.urls")),
    path("", include("deployments.api.urls")),
    path("billing/", include("billing.api.urls")),
    path("", include("billing.api.cost_urls")),  # /allocation (OpenCost's path), budgets, reports
]
