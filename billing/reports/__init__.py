"""Monthly finance reports: one model (MonthlyReport) rendered as JSON, CSV and PDF."""

from .csv import report_csv
from .model import MonthlyReport, monthly_report
from .pdf import report_pdf

__all__ = ["MonthlyReport", "monthly_report", "report_csv", "report_pdf"]
