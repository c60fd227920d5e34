"""The brief's figures, drawn with matplotlib and returned as inline SVG text.

SVG keeps the printed lines sharp at any size and the text selectable (fonts
are not embedded: ``svg.fonttype = "none"`` leaves text as text in the local
DejaVu Sans). Everything is offline: matplotlib's Agg/SVG backends need no
display and no network. Data strings (locality names) are passed as plain
text with math parsing off, so a ``$`` in a name is never read as TeX, and the
SVG writer escapes them for XML.
"""

from __future__ import annotations

import io
import math
import re

import matplotlib

matplotlib.use("Agg")

import geopandas as gpd  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from earlywarn import i18n  # noqa: E402
from earlywarn.brief.data import scorer_name  # noqa: E402
from earlywarn.i18n import _  # noqa: E402
from earlywarn.publish.panels import (  # noqa: E402
    CLASS_COLORS,
    FD_COLOR,
    HA_COLOR,
    NO_DATA_COLOR,
    RISK_CLASSES,
    class_label,
)

STYLE = {
    "svg.fonttype": "none",
    "svg.hashsalt": "earlywarn-brief",  # stable element ids: identical data gives an identical file
    "font.family": "DejaVu Sans",
    "font.size": 8,
    "text.parse_math": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 9,
    "axes.titleweight": "bold",
    "figure.dpi": 100,
}
RAG = {"green": "#1a9850", "amber": "#f59e0b", "red": "#d73027"}
LINE_COLORS = ("#e31a1c", "#1f78b4", "#33a02c", "#ff7f00", "#6a3d9a", "#b15928", "#a6cee3", "#fb9a99",
               "#b2df8a", "#cab2d6")
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.DOTALL)


def to_svg(fig: plt.Figure, *, label: str) -> str:
    """The figure as an inline ``<svg>`` element (no XML prolog, no metadata block), then closed."""
    buf = io.StringIO()
    with plt.rc_context(STYLE):  # svg.fonttype and svg.hashsalt are read while saving
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None}, bbox_inches="tight", pad_inches=0.02)
    plt.close(fig)
    text = buf.getvalue()
    text = text[text.index("<svg"):]
    text = _METADATA.sub("", text)
    # Accessible name for screen readers; label is produced here, not from data.
    return text.replace("<svg ", f'<svg role="img" aria-label="{label}" ', 1)


def _figure(w_in: float, h_in: float) -> plt.Figure:
    with plt.rc_context(STYLE):
        return plt.figure(figsize=(w_in, h_in))


# ------------------------------------------------------------------ the map
def _nice_km(span_km: float) -> float:
    """A round scale-bar length near a fifth of the map's width."""
    target = max(span_km / 5, 0.1)
    mag = 10 ** math.floor(math.log10(target))
    return min((m * mag for m in (1, 2, 5, 10)), key=lambda v: abs(v - target))


def patrol_circles(bases: pd.DataFrame) -> gpd.GeoSeries:
    """Each base's patrol radius as a true circle on the ground (buffered in a local equidistant projection)."""
    b = bases.dropna(subset=["lon", "lat"])
    b = b[pd.to_numeric(b.get("patrol_radius_km", 0), errors="coerce").fillna(0) > 0]
    if not len(b):
        return gpd.GeoSeries([], crs="EPSG:4326")
    lon0, lat0 = float(b["lon"].mean()), float(b["lat"].mean())
    aeqd = f"+proj=aeqd +lat_0={lat0} +lon_0={lon0} +datum=WGS84 +units=m"
    pts = gpd.GeoSeries(gpd.points_from_xy(b["lon"], b["lat"]), crs="EPSG:4326").to_crs(aeqd)
    return pts.buffer(b["patrol_radius_km"].astype(float).to_numpy() * 1000, quad_segs=16).to_crs("EPSG:4326")


def risk_map(
    table: gpd.GeoDataFrame,
    *,
    bases: pd.DataFrame | None,
    borders: gpd.GeoDataFrame | None = None,
    towns: gpd.GeoDataFrame | None = None,
    label_top: int = 10,
    data_date: str = "",
    size: tuple[float, float] = (7.4, 6.0),
) -> str:
    """Print-extent risk map: classes, flag outlines, bases and patrol radii, top localities numbered.

    Longitude is scaled by cos(latitude) so shapes and the scale bar are true
    near the mission's centre; north is up.
    """
    t = table.to_crs("EPSG:4326") if table.crs is not None and not table.crs.equals("EPSG:4326") else table
    t = t[~(t.geometry.isna() | t.geometry.is_empty)]
    fig = _figure(*size)
    with plt.rc_context(STYLE):
        ax = fig.add_axes((0, 0, 1, 1))
        x0, y0, x1, y1 = t.total_bounds
        pad = 0.04 * max(x1 - x0, y1 - y0)
        lat_c = (y0 + y1) / 2
        cls = t["risk_class"].astype("string").str.lower()
        colors = cls.map({c: CLASS_COLORS[k] for k, c in enumerate(RISK_CLASSES)}).fillna(NO_DATA_COLOR)
        t.plot(ax=ax, color=colors.tolist(), edgecolor="#707070", linewidth=0.3)
        if borders is not None and len(borders):
            borders.plot(ax=ax, color="#444444", linewidth=0.9, linestyle=(0, (6, 2, 2, 2)))
        fd = t[t["forward_deploy"].astype("boolean").fillna(False).to_numpy(dtype=bool)] if "forward_deploy" in t \
            else t.iloc[:0]
        ha = t[t["humanitarian_access"].astype("boolean").fillna(False).to_numpy(dtype=bool)] \
            if "humanitarian_access" in t else t.iloc[:0]
        if len(fd):
            fd.boundary.plot(ax=ax, color=FD_COLOR, linewidth=1.8)
        if len(ha):
            ha.boundary.plot(ax=ax, color=HA_COLOR, linewidth=1.6, linestyle=(0, (4, 2)))
        if bases is not None and len(bases):
            circles = patrol_circles(bases)
            if len(circles):
                circles.boundary.plot(ax=ax, color="#111111", linewidth=0.7, linestyle=(0, (3, 2)))
            b = bases.dropna(subset=["lon", "lat"])
            ax.scatter(b["lon"], b["lat"], marker="s", s=22, color="#111111", edgecolor="white", linewidth=0.6,
                       zorder=5)
        if towns is not None and len(towns):
            tw = towns.cx[x0:x1, y0:y1]
            tw = tw.sort_values("population", ascending=False).head(25) if "population" in tw else tw.head(25)
            ax.scatter(tw.geometry.x, tw.geometry.y, s=6, color="white", edgecolor="#1a1a1a", linewidth=0.6, zorder=6)
            for x, y, name in zip(tw.geometry.x, tw.geometry.y, tw["name"].astype(str), strict=True):
                ax.annotate(name, (x, y), xytext=(3, 2), textcoords="offset points", fontsize=6, color="#1a1a1a",
                            zorder=6)
        ranked = t[t["priority_rank"].notna()].sort_values("priority_rank").head(label_top)
        reps = ranked.geometry.representative_point()
        for (x, y), r in zip(zip(reps.x, reps.y, strict=True), ranked["priority_rank"], strict=True):
            ax.annotate(str(int(r)), (x, y), ha="center", va="center", fontsize=7, fontweight="bold", zorder=7,
                        bbox={"boxstyle": "circle,pad=0.25", "fc": "white", "ec": "#111111", "lw": 0.8})
        ax.set_xlim(x0 - pad, x1 + pad)
        ax.set_ylim(y0 - pad, y1 + pad)
        ax.set_aspect(1 / max(math.cos(math.radians(lat_c)), 0.05))
        ax.set_axis_off()
        _north_arrow(ax)
        _scale_bar(ax, lat_c)
        handles = [Patch(facecolor=CLASS_COLORS[k], edgecolor="#707070", label=class_label(c))
                   for k, c in enumerate(RISK_CLASSES)]
        if cls.isna().any():
            handles.append(Patch(facecolor=NO_DATA_COLOR, edgecolor="#707070", label=_("no score")))
        handles += [Line2D([], [], color=FD_COLOR, lw=1.8, label=_("forward-deployment flag")),
                    Line2D([], [], color=HA_COLOR, lw=1.6, ls=(0, (4, 2)), label=_("humanitarian-access flag"))]
        if bases is not None and len(bases):
            handles += [Line2D([], [], marker="s", color="#111111", ls="", label=_("base")),
                        Line2D([], [], color="#111111", lw=0.7, ls=(0, (3, 2)), label=_("patrol radius"))]
        if borders is not None and len(borders):
            handles.append(Line2D([], [], color="#444444", lw=0.9, ls=(0, (6, 2, 2, 2)), label=_("country border")))
        if towns is not None and len(towns):
            handles.append(Line2D([], [], marker="o", mfc="white", mec="#1a1a1a", ls="", ms=3, label=_("town")))
        handles.append(Line2D([], [], marker="o", mfc="white", mec="#111111", ls="", ms=7, label=_("priority rank")))
        leg = ax.legend(handles=handles, loc="lower left", fontsize=6.5, frameon=True, framealpha=0.92,
                        title=_("Risk class (data to {date})").format(date=i18n.date_text(data_date)) if data_date
                        else _("Risk class"), title_fontsize=7)
        leg.get_frame().set_edgecolor("#999999")
    return to_svg(fig, label=_("Risk map of the mission area"))


def _north_arrow(ax: plt.Axes) -> None:
    ax.annotate(_("N"), xy=(0.96, 0.97), xytext=(0.96, 0.87), xycoords="axes fraction", ha="center", va="center",
                fontsize=9, fontweight="bold",
                arrowprops={"arrowstyle": "-|>", "color": "#111111", "lw": 1.4})


def _scale_bar(ax: plt.Axes, lat_c: float) -> None:
    xa, xb = ax.get_xlim()
    ya, yb = ax.get_ylim()
    km_per_deg = 111.32 * math.cos(math.radians(lat_c))
    length_km = _nice_km((xb - xa) * km_per_deg)
    length_deg = length_km / km_per_deg
    x = xb - (xb - xa) * 0.04 - length_deg
    y = ya + (yb - ya) * 0.04
    h = (yb - ya) * 0.008
    ax.add_patch(plt.Rectangle((x, y), length_deg / 2, h, fc="#111111", ec="#111111", lw=0.6, zorder=8))
    ax.add_patch(plt.Rectangle((x + length_deg / 2, y), length_deg / 2, h, fc="white", ec="#111111", lw=0.6, zorder=8))
    km = i18n.decimal(length_km, 0 if float(length_km).is_integer() else 1)
    ax.text(x + length_deg / 2, y + 2.2 * h, f"{km} km", ha="center", va="bottom", fontsize=7, zorder=8)


# ------------------------------------------------------------------ small charts
def sparkline(values: list[float], status: str = "", size: tuple[float, float] = (1.6, 0.36)) -> str:
    """The last values of an indicator as a line, the latest point in its rating colour."""
    fig = _figure(*size)
    with plt.rc_context(STYLE):
        ax = fig.add_axes((0.02, 0.1, 0.94, 0.8))
        v = np.asarray(values, dtype=float)
        x = np.arange(len(v))
        ax.plot(x, v, color="#555555", lw=1.1)
        if len(v) and np.isfinite(v[-1]):
            ax.plot(x[-1:], v[-1:], "o", ms=3.5, color=RAG.get(status.lower(), "#333333"))
        ax.set_xlim(-0.5, max(len(v) - 0.5, 0.5))
        ax.set_axis_off()
    return to_svg(fig, label=_("Trend of the last values"))


def risk_lines(wide: pd.DataFrame, size: tuple[float, float] = (6.4, 4.2)) -> str:
    """Risk (%) per run for the top localities, one line each, labelled in the legend by rank and name."""
    fig = _figure(*size)
    with plt.rc_context(STYLE):
        ax = fig.add_subplot(1, 1, 1)
        for k, col in enumerate(wide.columns):
            ax.plot(wide.index, wide[col] * 100, marker="o", ms=3, lw=1.4, color=LINE_COLORS[k % len(LINE_COLORS)],
                    label=col)
        ax.set_ylabel(_("risk of an attack on civilians (%)"))
        _numbers(ax.yaxis)
        ax.set_ylim(bottom=0)
        ax.grid(axis="y", color="#dddddd", lw=0.6)
        _date_axis(ax, wide.index)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.09), ncol=2, frameon=False)
        ax.set_title(_("Top localities: risk by run"))
    return to_svg(fig, label=_("Risk over time for the top localities"))


def mission_line(series: pd.Series, size: tuple[float, float] = (4.2, 2.6)) -> str:
    """Expected civilians at risk across the mission (sum of risk x population) by run."""
    fig = _figure(*size)
    with plt.rc_context(STYLE):
        ax = fig.add_subplot(1, 1, 1)
        ax.fill_between(series.index, series.to_numpy(dtype=float), color="#fdae6b", alpha=0.5, lw=0)
        ax.plot(series.index, series.to_numpy(dtype=float), marker="o", ms=3, color="#d94801", lw=1.6)
        ax.set_ylim(bottom=0)
        ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _pos: i18n.decimal(v)))
        ax.set_ylabel(_("expected civilians at risk"))
        ax.grid(axis="y", color="#dddddd", lw=0.6)
        _date_axis(ax, series.index)
        ax.set_title(_("Whole mission"))
    return to_svg(fig, label=_("Expected civilians at risk across the mission over time"))


def class_bars(counts: pd.DataFrame, size: tuple[float, float] = (4.2, 2.2)) -> str:
    """Localities per risk class in each run, stacked in the map's class colours (high classes on top)."""
    fig = _figure(*size)
    with plt.rc_context(STYLE):
        ax = fig.add_subplot(1, 1, 1)
        x = np.arange(len(counts))
        bottom = np.zeros(len(counts))
        for k, c in enumerate(RISK_CLASSES):
            vals = counts[c].to_numpy(dtype=float) if c in counts else np.zeros(len(counts))
            ax.bar(x, vals, 0.7, bottom=bottom, color=CLASS_COLORS[k], edgecolor="#707070", lw=0.4,
                   label=class_label(c))
            bottom += vals
        ax.set_xticks(x)
        step = max(1, math.ceil(len(x) / 8))
        ax.set_xticklabels([_day_month(d) if i % step == 0 else "" for i, d in enumerate(counts.index)])
        ax.set_ylabel(_("localities"))
        _numbers(ax.yaxis)
        ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        ax.set_title(_("Localities by risk class"))
    return to_svg(fig, label=_("Localities per risk class in each run"))


def _day_month(d: object) -> str:
    """``02 Dec`` in English as before; in French ``2 déc.`` (Babel's abbreviated month)."""
    ts = pd.Timestamp(d)
    if i18n.current() == i18n.DEFAULT:
        return ts.strftime("%d %b")
    from babel.dates import format_date

    return format_date(ts.date(), "d MMM", locale=i18n.current())


def _numbers(axis: matplotlib.axis.Axis) -> None:
    """Tick labels with the language's decimal sign (matplotlib's are always ``0.5``); English keeps its own."""
    sign = i18n.decimal_sign()
    if sign == ".":
        return
    axis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _pos: f"{v:g}".replace(".", sign)))


def _date_axis(ax: plt.Axes, index: pd.Index) -> None:
    ticks = list(index)
    if len(ticks) > 8:
        ticks = ticks[:: math.ceil(len(ticks) / 8)]
    ax.set_xticks(ticks)
    ax.set_xticklabels([_day_month(d) for d in ticks], rotation=0)
    if len(index) == 1:
        d = pd.Timestamp(index[0])
        ax.set_xlim(d - pd.Timedelta(days=4), d + pd.Timedelta(days=4))


def skill_bars(skill: pd.DataFrame, size: tuple[float, float] = (4.8, 2.6)) -> str:
    """AUROC, Brier skill and top-k recall of the model beside each baseline (higher is better)."""
    metrics = [("auroc", _("AUROC")), ("brier_skill", _("Brier skill")), ("topk_recall", _("top-k recall"))]
    fig = _figure(*size)
    with plt.rc_context(STYLE):
        ax = fig.add_subplot(1, 1, 1)
        n = len(skill)
        width = 0.8 / max(n, 1)
        for k, row in enumerate(skill.itertuples(index=False)):
            vals = [float(getattr(row, m, np.nan) or np.nan) for m, _ in metrics]
            color = "#d94801" if k == 0 else ["#9ecae1", "#6baed6", "#4292c6", "#2171b5", "#084594"][(k - 1) % 5]
            ax.bar(np.arange(len(metrics)) + (k - (n - 1) / 2) * width, vals, width, color=color,
                   label=scorer_name(row.scorer))
        ax.set_xticks(np.arange(len(metrics)))
        ax.set_xticklabels([label for _, label in metrics])
        ax.axhline(0, color="#333333", lw=0.6)
        _numbers(ax.yaxis)
        ax.grid(axis="y", color="#dddddd", lw=0.6)
        ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        ax.set_title(_("Backtest skill: model vs baselines"))
    return to_svg(fig, label=_("Backtest skill of the model against the baselines"))


def reliability(calibration: list[dict], size: tuple[float, float] = (3.0, 2.8)) -> str:
    """Reliability diagram: observed rate against mean predicted risk per decile; the diagonal is perfect."""
    cal = pd.DataFrame(calibration)
    fig = _figure(*size)
    with plt.rc_context(STYLE):
        ax = fig.add_subplot(1, 1, 1)
        top = float(max(cal["mean_predicted"].max(), cal["observed_rate"].max(), 0.05)) * 1.08
        ax.plot([0, top], [0, top], color="#999999", lw=0.8, ls="--", label=_("perfectly calibrated"))
        ax.plot(cal["mean_predicted"], cal["observed_rate"], marker="o", ms=3.5, color="#d94801", lw=1.3,
                label=_("model (deciles)"))
        ax.set_xlim(0, top)
        ax.set_ylim(0, top)
        ax.set_xlabel(_("predicted risk"))
        ax.set_ylabel(_("observed rate"))
        _numbers(ax.xaxis)
        _numbers(ax.yaxis)
        ax.legend(fontsize=6, loc="upper left", frameon=False)
        ax.set_title(_("Reliability (backtest)"))
    return to_svg(fig, label=_("Reliability diagram of the model"))
