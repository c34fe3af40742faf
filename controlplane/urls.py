from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("controlplane.api_urls")),
    path("", include("deployments.urls")),
    path("costs/", include("billing.urls")),
    path("", include("controlplane.tenancy.urls")),
]

# JSON in the API's error shape under /api/, Django's pages elsewhere (controlplane/errors.py).
handler400 = "controlplane.errors.bad_request"
handler403 = "controlplane.errors.permission_denied"
handler404 = "controlplane.errors.page_not_found"
handler500 = "controlplane.errors.server_error"
