from django.core.management.base import BaseCommand, CommandError

from controlplane.tenancy.services import audit_verify


class Command(BaseCommand):
    help = "Check the audit log's hash chain; names every edited or deleted row. Exits 1 on any problem."

    def handle(self, *args, **options):
        checked, problems = audit_verify()
        for problem in problems:
            self.stderr.write(self.style.ERROR(problem.message))
        if problems:
            raise CommandError(f"audit log tampered with: {len(problems)} problem(s) in {checked} rows")
        self.stdout.write(self.style.SUCCESS(f"audit log intact: {checked} rows verified"))
