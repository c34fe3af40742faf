import csv
import io

from .model import CATEGORY_LABELS, MonthlyReport, cents


def report_csv(report: MonthlyReport) -> str:
    """One row per group, deployment and category, then a total per group; opens in a spreadsheet."""
    out = io.StringIO()
    writer = csv.writer(out)
    label = "team" if report.by == "team" else "cost_centre"
    writer.writerow(["month", label, "deployment", "category", "usd"])
    for line in report.lines:
        writer.writerow(
            [
                f"{report.month:%Y-%m}",
                line["group"],
                line["deployment"],
                CATEGORY_LABELS.get(line["category"], line["category"]),
                cents(line["usd"]),
            ]
        )
    for group in report.groups:
        writer.writerow([f"{report.month:%Y-%m}", group.name, "", "total", cents(group.total)])
    writer.writerow([f"{report.month:%Y-%m}", "all", "", "total", cents(report.total)])
    return out.getvalue()
