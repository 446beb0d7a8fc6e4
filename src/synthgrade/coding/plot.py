"""The learning curve as a small SVG drawn directly (no matplotlib import in the server: it stays fast), and the
sentence that reads it.

Only numbers computed here reach the drawing, never response text, so nothing in it comes from a user.
"""

from __future__ import annotations

import pandas as pd

WIDTH, HEIGHT = 360, 200
LEFT, RIGHT, TOP, BOTTOM = 40, 12, 12, 30


def curve_svg(curve: pd.DataFrame) -> str:
    """Cross-validated macro-F1 (line) and its bootstrap interval (band) against the number of coded rows."""
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        'font-family="sans-serif" font-size="10">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
    ]
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    points = curve.dropna(subset=["macro_f1"]).sort_values("n")
    n_max = max(10, int(points["n"].max()) if len(points) else 10)

    def x(n: float) -> float:
        return LEFT + plot_w * n / n_max

    def y(value: float) -> float:
        return TOP + plot_h * (1 - value)

    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" stroke="#e5e5e5"/>')
        parts.append(f'<text x="{LEFT - 4}" y="{y(tick) + 3:.1f}" text-anchor="end">{tick:.2f}</text>')
    for tick in sorted({0, n_max // 2, n_max}):
        parts.append(f'<text x="{x(tick):.1f}" y="{HEIGHT - BOTTOM + 12}" text-anchor="middle">{tick}</text>')
    parts.append(f'<text x="{LEFT + plot_w / 2:.1f}" y="{HEIGHT - 4}" text-anchor="middle">coded rows</text>')
    parts.append(
        f'<text x="10" y="{TOP + plot_h / 2:.1f}" transform="rotate(-90 10 {TOP + plot_h / 2:.1f})" '
        'text-anchor="middle">macro-F1 (cross-validated)</text>'
    )
    band = points.dropna(subset=["ci_low", "ci_high"])
    if len(band) >= 2:
        upper = [f"{x(n):.1f},{y(v):.1f}" for n, v in zip(band["n"], band["ci_high"], strict=True)]
        lower = [f"{x(n):.1f},{y(v):.1f}" for n, v in zip(band["n"][::-1], band["ci_low"][::-1], strict=True)]
        parts.append(f'<polygon points="{" ".join(upper + lower)}" fill="#1f77b4" fill-opacity="0.18" stroke="none"/>')
    if len(points):
        line = " ".join(f"{x(n):.1f},{y(v):.1f}" for n, v in zip(points["n"], points["macro_f1"], strict=True))
        parts.append(f'<polyline points="{line}" fill="none" stroke="#1f77b4" stroke-width="2"/>')
        for n, v in zip(points["n"], points["macro_f1"], strict=True):
            parts.append(f'<circle cx="{x(n):.1f}" cy="{y(v):.1f}" r="2.5" fill="#1f77b4"/>')
    else:
        parts.append(
            f'<text x="{LEFT + plot_w / 2:.1f}" y="{TOP + plot_h / 2:.1f}" text-anchor="middle" fill="#777">'
            "no retraining yet</text>"
        )
    parts.append("</svg>")
    return "\n".join(parts)


#: A flat curve is read as a plateau only when the latest estimate is this precise (bootstrap interval half-width):
#: with a few dozen coded rows the interval is +-0.15 or wider and a dip is noise, not a sign to stop. Cross-validated
#: macro-F1 on n rows has a half-width of roughly 0.9 / sqrt(n), so this is reached near 300 coded rows.
PLATEAU_HALF_WIDTH = 0.05


def learning_sentence(curve: pd.DataFrame) -> str:
    """A plain sentence on whether more coding is still raising the cross-validated macro-F1."""
    points = curve.dropna(subset=["macro_f1"])
    if len(points) < 2:
        return "The model needs a few more retrainings before it can tell whether more coding helps."
    last = points.iloc[-1]
    earlier = points[points["n"] <= 0.7 * last["n"]]
    first = earlier.iloc[-1] if len(earlier) else points.iloc[0]
    gain = float(last["macro_f1"] - first["macro_f1"])
    half_width = (
        float(last["ci_high"] - last["ci_low"]) / 2 if pd.notna(last["ci_high"]) and pd.notna(last["ci_low"]) else float("nan")
    )
    span = f"from {first['macro_f1']:.2f} at {int(first['n'])} coded rows to {last['macro_f1']:.2f} at {int(last['n'])}"
    if gain >= 0.02:
        return f"Macro-F1 rose {span}: more coding is still raising it."
    if gain > 0.005:
        return f"Macro-F1 rose only a little, {span}: more coding is raising it slowly."
    width = f" (its interval is ±{half_width:.2f} wide)" if half_width == half_width else ""
    if not half_width <= PLATEAU_HALF_WIDTH:  # also when the interval is unknown (nan)
        return f"Macro-F1 went {span}{width}: with so few coded rows that is within the noise; keep coding."
    return f"Macro-F1 went {span}{width}: more coding is no longer clearly raising it; consider Finish."
