"""The monthly finance reports, written to storage on the first of the month."""

import json
from datetime import date

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from billing.reports import monthly_report, report_csv, report_pdf
from billing.selectors.costs import CostScope

REPORT_DIR = "finance-reports"


def finance_reports_generate(*, month: date) -> list[str]:
    """Write the month's reports for every team, by team and by cost centre, as CSV, PDF and JSON
    under finance-reports/YYYY-MM/. A re-run replaces the files with the same names. Returns the
    storage names written."""
    scope = CostScope(all_teams=True, team_ids=frozenset())
    names = []
    for by in ("team", "cost_centre"):
        report = monthly_report(scope=scope, month=month, by=by)
        for ext, body in (
            ("csv", report_csv(report).encode()),
            ("pdf", report_pdf(report)),
            ("json", json.dumps(report.as_dict(), indent=2).encode()),
        ):
            name = f"{REPORT_DIR}/{month:%Y-%m}/costs-{month:%Y-%m}-by-{by}.{ext}"
            if default_storage.exists(name):
                default_storage.delete(name)
            names.append(default_storage.save(name, ContentFile(body)))
    return names
