import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from controlplane.tenancy.models import Team
from controlplane.tenancy.services import team_create


class Command(BaseCommand):
    help = (
        "Create the first admin and a demo team if they do not exist. The admin's password comes from "
        "CONTROLPLANE_ADMIN_PASSWORD, or is generated and printed this once. Safe to run every start."
    )

    def handle(self, *args, **options):
        User = get_user_model()
        username = os.environ.get("CONTROLPLANE_ADMIN_USERNAME", "admin")
        if User.objects.filter(username=username).exists():
            self.stdout.write(f"Admin {username!r} exists (its password was printed at first start).")
            self._local_target(User.objects.get(username=username))
            return
        password = os.environ.get("CONTROLPLANE_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        with transaction.atomic():
            admin = User.objects.create_superuser(
                username=username, email=os.environ.get("CONTROLPLANE_ADMIN_EMAIL", ""), password=password
            )
            if not Team.objects.filter(slug="demo").exists():
                team_create(actor=admin, slug="demo", name="Demo team", cost_centre="CC-DEMO")
        self._local_target(admin)
        shown = (
            "(from CONTROLPLANE_ADMIN_PASSWORD)"
            if os.environ.get("CONTROLPLANE_ADMIN_PASSWORD")
            else password
        )
        self.stdout.write(
            self.style.SUCCESS(
                "\n  First admin created: it is shown only now.\n"
                f"    username: {username}\n    password: {shown}\n"
                "  A demo team 'demo' is ready, with you as owner.\n"
            )
        )

    def _local_target(self, admin) -> None:
        """This machine as a deployment target, with its GPUs detected by nvidia-smi (none: CPU)."""
        from deployments.models import Target
        from deployments.services.targets import target_create

        if Target.objects.filter(name="local").exists():
            return
        target = target_create(
            actor=admin,
            name="local",
            kind="local",
            description="This machine: model servers run as local processes.",
        )
        gpus = (
            ", ".join(f"{n}× {t}" for t, n in target.gpu_inventory.items()) or "no GPU: models serve on CPU"
        )
        self.stdout.write(f"  Target 'local' created ({gpus}).")
