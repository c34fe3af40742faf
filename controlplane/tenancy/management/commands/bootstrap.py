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
            return
        password = os.environ.get("CONTROLPLANE_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        with transaction.atomic():
            admin = User.objects.create_superuser(
                username=username, email=os.environ.get("CONTROLPLANE_ADMIN_EMAIL", ""), password=password
            )
            if not Team.objects.filter(slug="demo").exists():
                team_create(actor=admin, slug="demo", name="Demo team", cost_centre="CC-DEMO")
        shown = "(from CONTROLPLANE_ADMIN_PASSWORD)" if os.environ.get("CONTROLPLANE_ADMIN_PASSWORD") else password
        self.stdout.write(self.style.SUCCESS(
            "\n  First admin created: it is shown only now.\n"
            f"    username: {username}\n    password: {shown}\n"
            "  A demo team 'demo' is ready, with you as owner.\n"
        ))
