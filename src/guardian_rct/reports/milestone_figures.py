"""Figures of the milestone report: a forest plot of effects and outcomes over time by arm.

Drawn with matplotlib (Agg, offline) from the report's data only, returned as PNG bytes
for embedding as data URIs (``reports.maps.png_data_uri``).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FixedLocator, FormatStrFormatter, NullFormatter  # noqa: E402
from matplotlib.transforms import blended_transform_factory  # noqa: E402

from guardian_rct._core.wording import estimate_label, outcome_label  # noqa: E402

__all__ = ["forest_plot_png", "timeseries_png", "forest_label", "forest_numbers", "forest_figure"]

ARM_COLOURS = {"treatment": "#1f4e79", "control": "#c55a11"}


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def forest_label(row: dict[str, Any]) -> str:
    """The words beside a bar: outcome, measure and model (``"Serious youth violence —
    crimes — Poisson fixed effects (primary)"``), from the estimate record's fields."""
    if row.get("outcome_name") and row.get("measure") and row.get("model"):
        return estimate_label(row["outcome_name"], row["measure"], row["model"],
                              primary=bool(row.get("in_holm_family")))
    return str(row.get("label", ""))


def forest_numbers(row: dict[str, Any], level: float = 0.95) -> str:
    """The numbers printed beside a bar: ``"0.85 (95% CI 0.74 to 0.97)"``."""
    return (f"{row['irr']:.2f} ({100 * level:.0f}% CI {row['irr_conf_low']:.2f} to "
            f"{row['irr_conf_high']:.2f})")


def forest_plot_png(rows: Sequence[dict[str, Any]], *, dpi: int = 100, level: float = 0.95) -> bytes | None:
    """Rate ratios with confidence intervals on a log axis, one line per estimate.

    ``rows`` are the report's estimate records; only those with ``irr``,
    ``irr_conf_low`` and ``irr_conf_high`` are drawn. Each line is labelled in words
    (:func:`forest_label`) and has its rate ratio and ``level`` interval printed beside
    it (:func:`forest_numbers`). Returns ``None`` when there is nothing to draw.
    """
    fig = forest_figure(rows, dpi=dpi, level=level)
    return None if fig is None else _png(fig)


def forest_figure(rows: Sequence[dict[str, Any]], *, dpi: int = 100, level: float = 0.95):
    """The matplotlib figure of :func:`forest_plot_png` (the caller closes it), or ``None``."""
    drawable = [r for r in rows if r.get("irr") is not None and r.get("irr_conf_low") is not None
                and r.get("irr_conf_high") is not None]
    if not drawable:
        return None
    height = 1.1 + 0.38 * len(drawable)
    fig, ax = plt.subplots(figsize=(7.0, height), dpi=dpi)
    try:
        beside = blended_transform_factory(ax.transAxes, ax.transData)
        for i, r in enumerate(reversed(drawable)):
            colour = "#1f4e79" if r.get("estimand", "").upper().startswith("ITT") else "#7f7f7f"
            ax.plot([r["irr_conf_low"], r["irr_conf_high"]], [i, i], color=colour, linewidth=1.6)
            ax.plot([r["irr"]], [i], marker="s", color=colour, markersize=6)
            ax.text(1.02, i, forest_numbers(r, level), transform=beside, va="center", fontsize=8)
        ax.text(1.02, len(drawable) - 0.4, f"rate ratio ({100 * level:.0f}% CI)", transform=beside,
                va="bottom", fontsize=8, fontweight="bold")
        ax.axvline(1.0, color="black", linewidth=0.8, linestyle="--")
        ax.set_xscale("log")
        low = min(r["irr_conf_low"] for r in drawable)
        high = max(r["irr_conf_high"] for r in drawable)
        ticks = [x for x in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.25, 1.5, 2.0, 3.0, 5.0, 10.0)
                 if min(low, 1.0) * 0.95 <= x <= max(high, 1.0) * 1.05]
        ax.xaxis.set_major_locator(FixedLocator(ticks))
        ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_yticks(range(len(drawable)))
        ax.set_yticklabels([forest_label(r) for r in reversed(drawable)], fontsize=8)
        ax.set_ylim(-0.6, len(drawable) - 0.1)
        ax.set_xlabel("rate ratio (patrol / no patrol), log scale; below 1 = fewer crimes on patrol days")
        ax.grid(axis="x", color="#dddddd", linewidth=0.6)
        return fig
    except Exception:
        plt.close(fig)
        raise


def timeseries_png(series: Sequence[dict[str, Any]], outcomes: Sequence[str], *,
                   dpi: int = 100) -> bytes | None:
    """Weekly mean crimes per hotspot-day by arm, one panel per outcome.

    ``series`` records have ``outcome``, ``week_start`` (ISO date), ``arm`` and
    ``count_per_day`` (``None`` when an arm had no hotspot-days that week).
    """
    if not series or not outcomes:
        return None
    fig, axes = plt.subplots(len(outcomes), 1, figsize=(8, 2.2 * len(outcomes)), dpi=dpi,
                             sharex=True, squeeze=False)
    try:
        weeks = sorted({r["week_start"] for r in series})
        position = {w: i for i, w in enumerate(weeks)}
        for ax, outcome in zip(axes[:, 0], outcomes, strict=True):
            for arm, colour in ARM_COLOURS.items():
                points = [(position[r["week_start"]], r["count_per_day"]) for r in series
                          if r["outcome"] == outcome and r["arm"] == arm and r["count_per_day"] is not None]
                if points:
                    xs, ys = zip(*points, strict=True)
                    ax.plot(xs, ys, marker="o", markersize=3, color=colour, label=arm)
            ax.set_ylabel("crimes per\nhotspot-day", fontsize=8)
            ax.set_title(outcome_label(outcome), fontsize=9, loc="left")
            ax.grid(color="#eeeeee", linewidth=0.6)
        axes[0, 0].legend(fontsize=8, loc="upper right")
        step = max(1, len(weeks) // 8)
        axes[-1, 0].set_xticks(range(0, len(weeks), step))
        axes[-1, 0].set_xticklabels(weeks[::step], rotation=30, fontsize=7, ha="right")
        axes[-1, 0].set_xlabel("week starting")
        return _png(fig)
    except Exception:
        plt.close(fig)
        raise
