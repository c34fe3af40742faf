import io

from reportlab.graphics.charts.barcharts import VerticalBarChart
from reportlab.graphics.charts.legends import Legend
from reportlab.graphics.shapes import Drawing
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import cm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from .model import CATEGORY_LABELS, MonthlyReport, cents

PALETTE = [colors.HexColor(c) for c in ("#2563eb", "#16a34a", "#f59e0b", "#dc2626", "#7c3aed", "#64748b")]


def _chart(report: MonthlyReport) -> Drawing:
    """Stacked bars: one per group (top 12), one colour per category."""
    groups = report.groups[:12]
    categories = sorted({c for g in groups for c in g.by_category})
    drawing = Drawing(17 * cm, 8 * cm)
    chart = VerticalBarChart()
    chart.x, chart.y, chart.width, chart.height = 40, 40, 12 * cm, 6 * cm
    chart.data = [[float(g.by_category.get(c, 0)) for g in groups] or [0] for c in categories] or [[0]]
    chart.categoryAxis.categoryNames = [g.name[:14] for g in groups] or [""]
    chart.categoryAxis.labels.angle, chart.categoryAxis.labels.boxAnchor = 30, "ne"
    chart.categoryAxis.labels.fontSize = 7
    chart.valueAxis.valueMin = 0
    chart.valueAxis.labelTextFormat = "$%.0f"
    chart.categoryAxis.style = "stacked"
    for i in range(len(categories)):
        chart.bars[i].fillColor = PALETTE[i % len(PALETTE)]
    drawing.add(chart)
    legend = Legend()
    legend.x, legend.y, legend.fontSize = 13 * cm, 7 * cm, 7
    legend.colorNamePairs = [
        (PALETTE[i % len(PALETTE)], CATEGORY_LABELS.get(c, c)) for i, c in enumerate(categories)
    ]
    drawing.add(legend)
    return drawing


def report_pdf(report: MonthlyReport) -> bytes:
    """A readable A4 report: title, total, a stacked bar chart by category, then a table per group
    with its deployments."""
    styles = getSampleStyleSheet()
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        title=f"Costs {report.month:%B %Y}",
        leftMargin=2 * cm,
        rightMargin=2 * cm,
        topMargin=2 * cm,
        bottomMargin=2 * cm,
    )
    by = "team" if report.by == "team" else "cost centre"
    story = [
        Paragraph(f"Model deployment costs, {report.month:%B %Y}, by {by}", styles["Title"]),
        Paragraph(f"Total: ${cents(report.total):,.2f} (USD)", styles["Heading2"]),
        _chart(report),
        Spacer(1, 0.5 * cm),
    ]
    rows = [[by.capitalize(), "Category / deployment", "USD"]]
    for group in report.groups:
        rows.append([group.name, "total", f"{cents(group.total):,.2f}"])
        for category, usd in sorted(group.by_category.items()):
            rows.append(["", CATEGORY_LABELS.get(category, category), f"{cents(usd):,.2f}"])
        for deployment, usd in sorted(group.by_deployment.items()):
            rows.append(["", deployment, f"{cents(usd):,.2f}"])
    table = Table(rows, colWidths=[4.5 * cm, 8.5 * cm, 3.5 * cm], repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, 0), "Helvetica-Bold"),
                ("FONTSIZE", (0, 0), (-1, -1), 8),
                ("ALIGN", (2, 0), (2, -1), "RIGHT"),
                ("LINEBELOW", (0, 0), (-1, 0), 0.8, colors.black),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e2e8f0")),
            ]
        )
    )
    story.append(table)
    doc.build(story)
    return buffer.getvalue()
