"""Charts drawn on the server as inline SVG: the console is air-gapped, so no chart library from a
CDN, and the same markup prints and screenshots as it shows."""

import math

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from billing.tco import Comparison

COLOURS = {
    "own_hardware": "#1f8a4c",
    "kubernetes_on_demand": "#2656d9",
    "kubernetes_spot_mix": "#7c3aed",
    "managed_endpoint": "#b7791f",
    "serverless": "#c62d2d",
}
WIDTH, HEIGHT = 840, 340
LEFT, RIGHT, TOP, BOTTOM = 72, 220, 16, 40


def _nice_step(span: float, ticks: int = 5) -> float:
    raw = span / ticks
    magnitude = 10 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)


def _usd(value: float) -> str:
    if value >= 1e6:
        return f"${value / 1e6:g}M"
    if value >= 1e3:
        return f"${value / 1e3:g}k"
    return f"${value:g}"


def cumulative_cost_svg(comparison: Comparison) -> SafeString:
    """Cumulative cost of each feasible mode by month, with the month own hardware breaks even
    against the cheapest rented mode marked."""
    modes = [m for m in comparison.modes if m.feasible]
    months = comparison.months
    top = max((max(m.cumulative_usd) for m in modes), default=0) or 1.0
    step = _nice_step(top)
    y_max = step * math.ceil(top / step)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(month: float) -> float:
        return LEFT + plot_w * month / months

    def y(usd: float) -> float:
        return TOP + plot_h * (1 - usd / y_max)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-labelledby="tco-chart-title">',
        f'<title id="tco-chart-title">Cumulative cost by month over {months} months</title>',
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="#fff" stroke="#e3e7ee"/>',
    ]
    value = 0.0
    while value <= y_max + 1e-9:
        parts.append(
            f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y(value):.1f}" y2="{y(value):.1f}" '
            'stroke="#eef1f5"/>'
            f'<text x="{LEFT - 6}" y="{y(value) + 4:.1f}" text-anchor="end" font-size="11" '
            'fill="#647087">'
            f"{escape(_usd(value))}</text>"
        )
        value += step
    tick = 6 if months <= 24 else 12
    for month in range(0, months + 1, tick):
        parts.append(
            f'<text x="{x(month):.1f}" y="{TOP + plot_h + 16}" text-anchor="middle" font-size="11" '
            f'fill="#647087">{month}</text>'
        )
    parts.append(
        f'<text x="{LEFT + plot_w / 2:.1f}" y="{HEIGHT - 6}" text-anchor="middle" font-size="11" '
        f'fill="#647087">month</text>'
    )
    for index, m in enumerate(modes):
        colour = COLOURS[m.mode]
        points = " ".join(
            [f"{x(0):.1f},{y(0):.1f}"]
            + [f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(m.cumulative_usd, start=1)]
        )
        dash = ' stroke-dasharray="5 3"' if m.mode == "kubernetes_spot_mix" else ""
        parts.append(
            f'<polyline data-mode="{m.mode}" points="{points}" fill="none" stroke="{colour}" '
            f'stroke-width="2"{dash}/>'
        )
        legend_y = TOP + 14 + index * 20
        parts.append(
            f'<line x1="{LEFT + plot_w + 14}" x2="{LEFT + plot_w + 34}" y1="{legend_y - 4}" '
            f'y2="{legend_y - 4}" stroke="{colour}" stroke-width="3"{dash}/>'
            f'<text x="{LEFT + plot_w + 40}" y="{legend_y}" font-size="11" fill="#1d2330">'
            f"{escape(m.label)}</text>"
        )
    own = next((m for m in modes if m.mode == "own_hardware"), None)
    rented = sorted((m for m in modes if m is not own), key=lambda m: m.total_usd)
    target = next((m for m in rented if m.break_even_month), None) if own else None
    if target is not None:
        month = target.break_even_month
        cx, cy = x(month), y(own.cumulative_usd[month - 1])
        right_half = cx > LEFT + plot_w / 2
        parts.append(
            f'<line x1="{cx:.1f}" x2="{cx:.1f}" y1="{TOP}" y2="{TOP + plot_h}" stroke="#1d2330" '
            f'stroke-dasharray="3 3"/><circle cx="{cx:.1f}" cy="{cy:.1f}" r="4" fill="#1d2330"/>'
            f'<text class="break-even" x="{cx + (-6 if right_half else 6):.1f}" y="{TOP + 14}" '
            f'text-anchor="{"end" if right_half else "start"}" font-size="12" fill="#1d2330">'
            f"break-even vs {escape(target.label)}: month {month}</text>"
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))


TEAM_COLOURS = ("#2656d9", "#1f8a4c", "#b7791f", "#c62d2d", "#7c3aed", "#0e7490", "#64748b")


def daily_cost_svg(rows: list[dict], days: list) -> SafeString:
    """Stacked bars of USD per day, one colour per team (rows: day, team_slug, usd)."""
    teams = sorted({r["team_slug"] or "__idle__" for r in rows})
    colour = {t: TEAM_COLOURS[i % len(TEAM_COLOURS)] for i, t in enumerate(teams)}
    per_day: dict = {d: [] for d in days}
    for r in rows:
        per_day.setdefault(r["day"], []).append((r["team_slug"] or "__idle__", float(r["usd"] or 0)))
    top = max([sum(v for _, v in bars) for bars in per_day.values()] + [1.0])
    step = _nice_step(top)
    top = step * math.ceil(top / step)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(days), 1)
    parts = [
        f'<svg class="chart cost-chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="Cost per day by team" xmlns="http://www.w3.org/2000/svg">'
    ]
    for i in range(int(top / step) + 1):
        y = TOP + plot_h - plot_h * i * step / top
        parts.append(
            f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e7eb"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">{_usd(i * step)}</text>'
        )
    for n, day in enumerate(days):
        x, base = LEFT + n * slot + slot * 0.15, TOP + plot_h
        for team, usd in sorted(per_day.get(day, [])):
            h = plot_h * usd / top
            base -= h
            parts.append(
                f'<rect x="{x:.1f}" y="{base:.1f}" width="{slot * 0.7:.1f}" height="{h:.1f}" '
                f'fill="{colour[team]}"><title>{escape(team)} {day:%d %b}: ${usd:,.2f}</title></rect>'
            )
        if len(days) <= 16 or n % 5 == 0:
            parts.append(
                f'<text x="{x + slot * 0.35:.1f}" y="{TOP + plot_h + 16}" text-anchor="middle" '
                f'font-size="11">{day:%d}</text>'
            )
    for i, team in enumerate(teams):
        y = TOP + 10 + i * 18
        parts.append(
            f'<rect x="{WIDTH - RIGHT + 16}" y="{y - 9}" width="12" height="12" fill="{colour[team]}"/>'
            f'<text x="{WIDTH - RIGHT + 34}" y="{y + 1}" font-size="12">{escape(team)}</text>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))
