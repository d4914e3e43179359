"""Inline SVG charts drawn on the server (WeasyPrint and browsers render them alike)."""

from __future__ import annotations

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

FONT = "Noto Sans CJK SC"


def _number(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".") if value else "0"


def bar_chart_svg(
    bars: list[tuple[str, float]],
    *,
    unit: str = "",
    highlight: int | None = None,
    reference: float | None = None,
    reference_label: str = "",
    width: int = 640,
    height: int = 230,
    title: str = "",
) -> SafeString:
    """A bar chart: one bar per (label, value), the highlighted one darker, and an optional
    dashed reference line (e.g. the community average)."""
    left, right, top, bottom = 44, 12, 28, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max([v for _, v in bars] + [reference or 0, 0]) or 1.0
    step = plot_w / max(len(bars), 1)
    bar_w = step * 0.62
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="{FONT}" font-size="11" role="img" '
        f'aria-label="{escape(title)}">',
        f'<text x="{left}" y="16" font-size="12" fill="#333">{escape(title)}'
        f"{f' ({escape(unit)})' if unit else ''}</text>",
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" '
        f'stroke="#999" stroke-width="1"/>',
    ]
    for fraction in (0.5, 1.0):
        y = top + plot_h - plot_h * fraction
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#e5e5e5"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#777">'
            f"{_number(peak * fraction)}</text>"
        )
    for index, (label, value) in enumerate(bars):
        x = left + step * index + (step - bar_w) / 2
        bar_h = plot_h * value / peak
        y = top + plot_h - bar_h
        colour = "#1b5e20" if index == highlight else "#81c784"
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{bar_h:.1f}" '
            f'fill="{colour}" rx="2"/>'
        )
        if value:
            parts.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{y - 3:.1f}" text-anchor="middle" '
                f'fill="#333" font-size="10">{_number(value)}</text>'
            )
        parts.append(
            f'<text x="{x + bar_w / 2:.1f}" y="{top + plot_h + 16}" text-anchor="middle" '
            f'fill="#555">{escape(label)}</text>'
        )
    if reference is not None:
        y = top + plot_h - plot_h * reference / peak
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" '
            f'stroke="#e65100" stroke-width="1.5" stroke-dasharray="5,4"/>'
            f'<text x="{left + 4}" y="{y - 4:.1f}" fill="#e65100">'
            f"{escape(reference_label)} {_number(reference)}</text>"
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every label above is escaped
