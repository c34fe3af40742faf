from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("teams/", views.team_list, name="team-list"),
    path("teams/new/", views.team_new, name="team-new"),
    path("teams/switch/", views.team_switch, name="team-switch"),
    path("teams/<slug:slug>/", views.team_overview, name="team-overview"),
    path("teams/<slug:slug>/settings/", views.team_settings, name="team-settings"),
    path("teams/<slug:slug>/delete/", views.team_remove, name="team-delete"),
    path("teams/<slug:slug>/members/", views.members, name="members"),
    path("teams/<slug:slug>/members/<int:pk>/role/", views.member_role, name="member-role"),
    path("teams/<slug:slug>/members/<int:pk>/remove/", views.member_remove, name="member-remove"),
    path("teams/<slug:slug>/tokens/", views.tokens, name="tokens"),
    path("teams/<slug:slug>/tokens/<int:pk>/revoke/", views.token_revoke, name="token-revoke"),
    path("teams/<slug:slug>/audit/", views.audit, name="audit"),
    path("audit/", views.platform_audit, name="platform-audit"),
]
