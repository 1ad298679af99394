"""Small server-rendered SVG charts (no JavaScript, no CDN); every label is escaped."""
from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

PALETTE = ("#0058b0", "#1b7f3b", "#8a5a00", "#b00020", "#6e6e73", "#5e35b1")


def bar_chart(items: Sequence[tuple[str, int]], title: str, *, width: int = 360, bar: int = 22) -> Markup:
    """Horizontal bars, one per (label, value); accessible name and a text value per bar."""
    height = max(1, len(items)) * (bar + 8) + 8
    top = max((value for _, value in items), default=0) or 1
    label_width = 130
    parts = [f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {width} {height}" '
             f'width="100%" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>']
    for index, (label, value) in enumerate(items):
        y = 8 + index * (bar + 8)
        length = int((width - label_width - 60) * value / top)
        parts.append(f'<text x="0" y="{y + bar * 0.7:.0f}" font-size="13">{escape(str(label)[:22])}</text>'
                     f'<rect x="{label_width}" y="{y}" width="{max(length, 1)}" height="{bar}" rx="3" '
                     f'fill="{PALETTE[index % len(PALETTE)]}"/>'
                     f'<text x="{label_width + length + 6}" y="{y + bar * 0.7:.0f}" font-size="13">{int(value)}</text>')
    if not items:
        parts.append('<text x="0" y="20" font-size="13">No data yet</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def line_chart(labels: Sequence[str], series: Sequence[tuple[str, Sequence[int]]], title: str, *,
               width: int = 360, height: int = 180) -> Markup:
    """One polyline per series over the same x labels, with a legend."""
    pad_left, pad_bottom, pad_top = 36, 24, 10
    top = max((max(values, default=0) for _, values in series), default=0) or 1
    count = max(len(labels) - 1, 1)
    plot_w, plot_h = width - pad_left - 8, height - pad_bottom - pad_top

    def point(i: int, v: int) -> str:
        return f"{pad_left + plot_w * i / count:.1f},{pad_top + plot_h * (1 - v / top):.1f}"

    legend_h = 18 * len(series)
    parts = [f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {width} {height + legend_h}" '
             f'width="100%" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>',
             f'<line x1="{pad_left}" y1="{pad_top + plot_h}" x2="{width - 8}" y2="{pad_top + plot_h}" stroke="#c7c7cc"/>',
             f'<text x="0" y="{pad_top + 10}" font-size="11">{top}</text>',
             f'<text x="0" y="{pad_top + plot_h}" font-size="11">0</text>']
    if labels:
        parts.append(f'<text x="{pad_left}" y="{height - 6}" font-size="11">{escape(labels[0])}</text>'
                     f'<text x="{width - 8}" y="{height - 6}" font-size="11" text-anchor="end">{escape(labels[-1])}</text>')
    for index, (name, values) in enumerate(series):
        colour = PALETTE[index % len(PALETTE)]
        points = " ".join(point(i, v) for i, v in enumerate(values))
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"/>')
        y = height + 14 + 18 * index
        last = values[-1] if values else 0
        parts.append(f'<rect x="{pad_left}" y="{y - 10}" width="12" height="12" fill="{colour}"/>'
                     f'<text x="{pad_left + 18}" y="{y}" font-size="12">{escape(name)}: {last}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
