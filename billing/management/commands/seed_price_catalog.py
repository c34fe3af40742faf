from django.core.management.base import BaseCommand

from billing.services import catalog_seed


class Command(BaseCommand):
    help = (
        "Load the reference GPU and price catalog (billing/seed.py), adding only what is missing. "
        "Safe to run at every start: admins' prices and edits are kept."
    )

    def handle(self, *args, **options):
        added = catalog_seed(actor=None)
        if any(added.values()):
            summary = ", ".join(f"{n} {what.replace('_', ' ')}" for what, n in added.items())
            self.stdout.write(self.style.SUCCESS(f"Price catalog: added {summary}."))
        else:
            self.stdout.write("Price catalog is up to date.")
