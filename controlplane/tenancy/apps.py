from django.apps import AppConfig


class TenancyConfig(AppConfig):
    name = "controlplane.tenancy"
    label = "tenancy"
    verbose_name = "Teams, tokens and audit"

    def ready(self) -> None:
        from . import receivers  # noqa: F401  (login and logout go to the audit log)
