from django.apps import AppConfig


class DeploymentsConfig(AppConfig):
    name = "deployments"
    verbose_name = "Models and deployments"

    def ready(self) -> None:
        from deployments.backends import (
            kubernetes,  # noqa: F401
            local,  # noqa: F401  (registers the backend)
        )
