from django.urls import path

from . import views

urlpatterns = [
    path("me/", views.MeApi.as_view(), name="me"),
    path("teams/", views.TeamsApi.as_view(), name="teams"),
    path("teams/<slug:slug>/", views.TeamDetailApi.as_view(), name="team-detail"),
    path("teams/<slug:slug>/members/", views.MembersApi.as_view(), name="members"),
    path("teams/<slug:slug>/members/<int:pk>/", views.MemberDetailApi.as_view(), name="member-detail"),
    path("teams/<slug:slug>/tokens/", views.TokensApi.as_view(), name="tokens"),
    path("teams/<slug:slug>/tokens/<int:pk>/", views.TokenDetailApi.as_view(), name="token-detail"),
    path("teams/<slug:slug>/audit-events/", views.TeamAuditEventsApi.as_view(), name="team-audit-events"),
    path("platform/grants/", views.PlatformGrantsApi.as_view(), name="platform-grants"),
    path("platform/grants/<int:pk>/", views.PlatformGrantDetailApi.as_view(), name="platform-grant-detail"),
    path("audit-events/", views.AuditEventsApi.as_view(), name="audit-events"),
    path("auth/introspect", views.TokenIntrospectApi.as_view(), name="token-introspect"),
]
