"""Render the self-contained offline risk map (one HTML file, no network).

The page is a folium/branca document whose layers are small custom elements:
folium's stock elements write one JavaScript statement per marker or polygon,
which for 10,000 localities is tens of megabytes. Instead each layer embeds
one compact, escaped JSON object and a few lines in ``assets/ewmap.js`` draw
it. Leaflet and Leaflet.markercluster (the library behind folium's
MarkerCluster plugin) are inlined from ``assets/``; folium's default CDN
links (Leaflet, jQuery, Bootstrap, Font Awesome) are removed, so the map has
no external reference at all unless a basemap ``tile_url`` is given.

Trust boundary: every string from the input tables is escaped here, in
Python, with :func:`~earlywarn.publish.safety.esc` (vectorised as
:func:`esc_series`) before it is embedded; the embedded JSON itself is
written with :func:`~earlywarn.publish.safety.script_json`.
"""

from __future__ import annotations

import itertools
import re
from typing import TYPE_CHECKING, Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import Element, Figure, MacroElement
from folium.map import Layer

from earlywarn import i18n
from earlywarn.i18n import N_, _, date_text, decimal
from earlywarn.numbers import count_text, cut_tenths, range_text, risk_text_tenths, risk_texts, tenths
from earlywarn.publish import panels
from earlywarn.publish.assets import inline_head, js_messages
from earlywarn.publish.columns import col as _col
from earlywarn.publish.columns import esc_series, fmt_decimal, population_basis, population_estimated
from earlywarn.publish.columns import num as _num
from earlywarn.publish.context import DEFAULT_BUDGET_BYTES, LAYER_COLORS, ContextFit, MapContext, prepare_context
from earlywarn.publish.geometry import encode_polygons
from earlywarn.publish.header import MapHeader
from earlywarn.publish.history import change_lists, changes_html, history_payload, time_control_html
from earlywarn.publish.horizons import class_index, horizon_payload, horizons_of
from earlywarn.publish.horizons import control_html as horizon_control_html
from earlywarn.publish.impact import impact_legend_html, impact_panel_html, impact_payload
from earlywarn.publish.safety import assert_offline, esc, script_json
from earlywarn.schema import CIVILIAN_TARGET_KINDS

if TYPE_CHECKING:
    from earlywarn.actions import ImpactEstimate

# Above this many localities the polygons are drawn on a <canvas> instead of
# as SVG paths (faster first paint; see benchmarks/bench_map.py).
SVG_MAX_LOCALITIES = 12_000
NOTE_CHARS = 300
RATIONALE_CHARS = 300  # of the team's rationale in a popup
ALIAS_CHARS = 60  # per name of a town inside a locality (column "aliases", "; "-joined)
MAX_ALIASES = 40  # towns listed per locality
# Kinds drawn black: direct harm to civilians. Everything else grey.
CIVILIAN_KINDS = (*CIVILIAN_TARGET_KINDS, "aid_worker_attack")  # drawn as attacks on civilians


def _flag(df: pd.DataFrame, name: str) -> np.ndarray:
    s = _col(df, name)
    if s is None:
        return np.zeros(len(df), dtype=np.int64)
    return s.astype("boolean").fillna(False).to_numpy(dtype=bool).astype(np.int64)


def _change_texts(change: np.ndarray) -> tuple[list[str], list[str]]:
    """Risk change in percentage points, long (popup) and short (table) forms."""
    pts = change * 100
    up, down = pts >= 0.05, pts <= -0.05
    mag = [decimal(v, 1) if np.isfinite(v) else "" for v in np.abs(pts).tolist()]
    long = np.where(
        np.isnan(pts),
        _("n/a (no previous run)"),
        np.where(up, "&#9650; +", np.where(down, "&#9660; &minus;", "&#9679; ")).astype(object)
        + np.array(mag, dtype=object)
        + " " + _("pts"),
    )
    short = np.where(
        np.isnan(pts),
        _("new"),
        np.where(up, "&#9650;+", np.where(down, "&#9660;&minus;", "&#9679;")).astype(object)
        + np.array(mag, dtype=object),
    )
    return long.tolist(), short.tolist()


def locality_display(localities: gpd.GeoDataFrame, cutoffs: tuple[float, float, float] | None = None) -> pd.DataFrame:
    """Escaped, formatted display columns, one row per locality (input order).

    Probabilities read as :func:`earlywarn.numbers.risk_text` prints them under
    ``cutoffs`` (the class cut-offs in force), so a figure never contradicts
    its class; a missing population, IDP count or expected civilians at risk
    reads ``n/a``, never 0.
    """
    df = localities.reset_index(drop=True)
    n = len(df)
    risk = _num(df, "risk")
    cls = class_index(df, "risk_class")
    change_long, change_short = _change_texts(_num(df, "risk_change"))
    rank = _col(df, "priority_rank")
    rank_vals = (
        pd.to_numeric(rank, errors="coerce").astype("Float64").round().astype("Int64")
        if rank is not None
        else pd.Series(pd.NA, index=df.index, dtype="Int64")
    )
    cov = _col(df, "covered")
    cov_vals = (
        cov.astype("boolean").astype("Int64") if cov is not None else pd.Series(pd.NA, index=df.index, dtype="Int64")
    )
    ids = esc_series(_col(df, "locality_id"), n)
    names = esc_series(_col(df, "name"), n)
    out = pd.DataFrame(
        {
            "name": pd.Series(names, dtype=object).where(pd.Series(names) != "", pd.Series(ids)).tolist(),
            "pcode": ids,
            "adm1": esc_series(_col(df, "admin1_pcode"), n),
            "adm1n": esc_series(_col(df, "admin1_name"), n),
            "adm2": esc_series(_col(df, "admin2_pcode"), n),
            "adm2n": esc_series(_col(df, "admin2_name"), n),
            "aka": _alias_lists(_col(df, "aliases"), n),
            "risk": [esc(x) for x in risk_texts(risk, cutoffs, cls)],
            "risk_value": risk,
            "cls": cls,
            "chg": change_long,
            "chg_short": change_short,
            "d1": esc_series(_col(df, "driver_1"), n),
            "d2": esc_series(_col(df, "driver_2"), n),
            "d3": esc_series(_col(df, "driver_3"), n),
            "fd": _flag(df, "forward_deploy"),
            "fdr": esc_series(_col(df, "forward_reason"), n, 240),
            "ha": _flag(df, "humanitarian_access"),
            "har": esc_series(_col(df, "access_reason"), n, 240),
            "pop": [count_text(v) for v in _num(df, "population").tolist()],
            "popest": population_estimated(df),
            "ear": [count_text(v) for v in _num(df, "expected_at_risk").tolist()],
            "idp": [count_text(v) for v in _num(df, "idp_individuals").tolist()],
            "km": fmt_decimal(_num(df, "km_to_nearest_base"), 1),
            "cov": cov_vals,
            "rank": rank_vals,
        }
    )
    out["drv"] = list(zip(out["d1"], out["d2"], out["d3"], strict=True))
    # The joint team's assessment in force (earlywarn.assessments): level, when, by whom, why, until when.
    out["tl"] = class_index(df, "team_level")
    out["dis"] = _flag(df, "disagree")
    out["tdate"] = _dates(_col(df, "team_date"), n)
    expires = _col(df, "team_expires")
    out["tuntil"] = _dates(pd.to_datetime(expires) - pd.Timedelta(days=1) if expires is not None else None, n)
    out["tauth"] = esc_series(_col(df, "team_author"), n, 80)
    out["trat"] = esc_series(_col(df, "team_rationale"), n, RATIONALE_CHARS)
    return out


def _dates(s: pd.Series | None, n: int) -> list[str]:
    """Dates as the map's language writes them (``date_text``), empty where missing; escaped like any text."""
    if s is None:
        return [""] * n
    iso = pd.to_datetime(s, errors="coerce").dt.strftime("%Y-%m-%d").fillna("").astype(object).tolist()
    return [esc(date_text(d)) if d else "" for d in iso]


def _team_payload(locs: gpd.GeoDataFrame, disp: pd.DataFrame) -> dict[str, Any] | None:
    """The "Team assessments" layer: a marker per locality with an assessment in force, at its representative point.

    ``i`` is the locality's row in the map data (its popup opens on click),
    ``k`` the team's class, ``dis`` 1 where the team and the model disagree.
    None when no assessment is in force.
    """
    geom_ok = disp["idx"].to_numpy() >= 0
    has = (disp["tl"].to_numpy() >= 0) & geom_ok
    if not has.any():
        return None
    rows = np.flatnonzero(has)
    rep = locs.geometry.iloc[rows].representative_point()
    return {
        "i": rows.tolist(),
        "lat": np.round(rep.y.to_numpy(), 5).tolist(),
        "lon": np.round(rep.x.to_numpy(), 5).tolist(),
        "k": disp["tl"].to_numpy()[rows].astype(int).tolist(),
        "dis": disp["dis"].to_numpy()[rows].astype(int).tolist(),
    }


def _alias_lists(s: pd.Series | None, n: int) -> list[list[str]]:
    """Column ``aliases`` ("; "-joined town names) -> per locality a list of escaped names.

    Split before escaping: an escaped name is full of ";" (``&gt;``), so the
    page could not split it again.
    """
    if s is None:
        return [[] for _ in range(n)]
    parts = s.reset_index(drop=True).astype("string").str.split(";").explode().str.strip()
    parts = parts[parts.notna() & (parts != "")]
    parts = parts[parts.groupby(level=0).cumcount() < MAX_ALIASES]
    escaped = pd.Series(esc_series(parts, len(parts), ALIAS_CHARS), index=parts.index, dtype=object)
    grouped = escaped.groupby(level=0).agg(list)
    return [grouped.get(i, []) for i in range(n)]


def _json_list(s: pd.Series) -> list[int | None]:
    """Int64 with NA -> list of int/None for JSON."""
    return [None if v is pd.NA else int(v) for v in s.tolist()]


class _Raw(Element):
    """A literal HTML fragment. Unlike ``branca.Element(template)``, it is not
    compiled as a Jinja template, so ``{{`` in data can never be evaluated."""

    def __init__(self, html: str):
        super().__init__()
        self._name = "Raw"
        self._html = html

    def render(self, **kwargs: Any) -> str:
        return self._html


class _EwLayer(Layer):
    """An overlay drawn by ``EW.<fn>(map, payload)`` from ``assets/ewmap.js``.

    ``render`` is overridden on purpose: branca's MacroElement wraps each
    rendered script in ``Element(text)``, which compiles the text as a Jinja
    template a second time, so ``{{ ... }}`` inside data would be evaluated
    (server-side template injection). Here the script goes in verbatim.
    """

    def __init__(self, name: str, fn: str, payload: str, show: bool = True):
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = "EwLayer"
        if not re.fullmatch(r"[A-Za-z]+", fn):
            raise ValueError(fn)
        self.fn = fn
        self.payload = payload  # already script-safe JSON

    def render(self, **kwargs: Any) -> None:
        name, parent = self.get_name(), self._parent.get_name()
        script = f"var {name} = EW.{self.fn}({parent}, {self.payload});\n"
        if self.show:
            script += f"{name}.addTo({parent});\n"
        self.get_root().script.add_child(_Raw(script), name=name)


class _Language(MacroElement):
    """The page's texts and number format in the language in force (``EW.T``, ``EW.dec``, ``EW.pct``).

    Added to the map before any layer, so its statement comes first in the
    map's script, before a layer draws a label; inside that script rather than
    in a block of its own, so the page keeps exactly its three script blocks.
    """

    def __init__(self) -> None:
        super().__init__()
        self._name = "EwLanguage"

    def render(self, **kwargs: Any) -> None:
        self.get_root().script.add_child(_Raw(_page_language()), name=self.get_name())


class _Finish(MacroElement):
    def __init__(self) -> None:
        super().__init__()
        self._name = "EwFinish"

    def render(self, **kwargs: Any) -> None:
        self.get_root().script.add_child(_Raw(f"EW.finish({self._parent.get_name()});\n"), name=self.get_name())


def _points(df: pd.DataFrame) -> pd.DataFrame:
    lon, lat = _num(df, "lon"), _num(df, "lat")
    ok = np.isfinite(lon) & np.isfinite(lat) & (np.abs(lat) <= 90) & (np.abs(lon) <= 180)
    return df.reset_index(drop=True)[ok].reset_index(drop=True)


def _latlon(df: pd.DataFrame) -> dict[str, list[float]]:
    return {"lat": np.round(_num(df, "lat"), 5).tolist(), "lon": np.round(_num(df, "lon"), 5).tolist()}


def _incident_payload(incidents: pd.DataFrame) -> dict[str, Any]:
    df = _points(incidents)
    n = len(df)
    fat = _num(df, "fatalities")
    payload: dict[str, Any] = _latlon(df)
    kind = _col(df, "kind")
    payload["kind"] = esc_series(kind.astype("string").map(kind_label, na_action="ignore")
                                 if kind is not None else None, n)
    payload["civ"] = (
        kind.astype("string").isin(CIVILIAN_KINDS).fillna(False).to_numpy(dtype=bool).astype(int).tolist()
        if kind is not None
        else [0] * n
    )
    dates = _col(df, "date_start")
    payload["date"] = (
        [i18n.date_text(d.date()) if pd.notna(d) else "" for d in pd.to_datetime(dates, errors="coerce")]
        if dates is not None
        else [""] * n
    )
    payload["fat"] = fmt_decimal(fat)
    payload["loc"] = esc_series(_col(df, "location"), n)
    size = fat
    if "count" in df.columns:
        count = _num(df, "count")
        payload["count"] = fmt_decimal(count)
        size = np.fmax(count, np.nan_to_num(fat))
    if "notes" in df.columns:
        payload["notes"] = esc_series(df["notes"], n, NOTE_CHARS)
    payload["r"] = np.round(4 + np.minimum(6, np.sqrt(np.nan_to_num(size, nan=0.0).clip(0))), 1).tolist()
    return payload


def _base_payload(bases: pd.DataFrame) -> dict[str, Any]:
    df = _points(bases)
    n = len(df)
    payload: dict[str, Any] = _latlon(df)
    names = esc_series(_col(df, "name"), n)
    ids = esc_series(_col(df, "base_id"), n)
    payload["name"] = [a or b for a, b in zip(names, ids, strict=True)]
    payload["type"] = esc_series(_col(df, "base_type"), n)
    payload["km"] = np.round(np.nan_to_num(_num(df, "patrol_radius_km"), nan=0.0).clip(0, 500), 1).tolist()
    return payload


def _idp_payload(sites: pd.DataFrame) -> dict[str, Any]:
    df = _points(sites)
    n = len(df)
    idp = np.nan_to_num(_num(df, "idp_individuals"), nan=0.0).clip(0)
    top = float(idp.max()) if n and idp.max() > 0 else 1.0
    payload: dict[str, Any] = _latlon(df)
    payload["name"] = esc_series(_col(df, "site_name"), n)
    payload["n"] = fmt_decimal(np.where(idp > 0, idp, np.nan))
    payload["r"] = np.round(3 + 11 * np.sqrt(idp / top), 1).tolist()
    return payload


def _class_ranges(disp: pd.DataFrame, cutoffs: tuple[float, float, float] | None = None
                  ) -> tuple[list[str], list[int]]:
    grouped = disp.groupby("cls")["risk_value"].agg(["min", "max", "size"])
    ranges, counts = [], []
    ct = cut_tenths(cutoffs)
    for k in range(len(panels.RISK_CLASSES)):
        if k in grouped.index and np.isfinite(grouped.loc[k, "min"]):
            lo = esc(risk_text_tenths(tenths(grouped.loc[k, "min"]), k, ct))
            hi = esc(risk_text_tenths(tenths(grouped.loc[k, "max"]), k, ct))
            ranges.append(range_text(lo, hi))
        else:
            ranges.append("")
        counts.append(int(grouped.loc[k, "size"]) if k in grouped.index else 0)
    counts.append(int((disp["cls"] < 0).sum()))
    return ranges, counts


def flag_min_zoom(geoms: gpd.GeoSeries, min_px: float = 24.0) -> float:
    """Web-Mercator zoom from which a median locality is ``min_px`` wide, so
    FD/HA badges only appear once they no longer bury the choropleth."""
    arr = np.asarray(geoms.array, dtype=object)
    ok = ~(shapely.is_missing(arr) | shapely.is_empty(arr))
    if not ok.any():
        return 0.0
    diam = float(np.median(np.sqrt(shapely.area(arr[ok]))))
    if diam <= 0:
        return 0.0
    return float(np.clip(np.floor(np.log2(min_px * 360.0 / (256.0 * diam))), 0, 14))


def _renumber(fig: Figure) -> None:
    """Deterministic element ids (branca draws random ones) so two renders of
    the same data give the same file and archives diff cleanly."""
    counter = itertools.count()

    def walk(el: Element) -> None:
        el._id = f"{next(counter):x}"
        for child in el._children.values():
            walk(child)

    walk(fig)
    for part in (fig.header, fig.html, fig.script):
        walk(part)


def _tile_prefix(tile_url: str) -> str:
    if not re.match(r"^(https?://|file://|[./A-Za-z0-9_-])", tile_url) or "{z}" not in tile_url:
        raise ValueError("tile_url must be an XYZ URL template containing {z}, {x} and {y}")
    return tile_url.split("{", 1)[0]


@i18n.speaks
def render_map(
    localities: gpd.GeoDataFrame,
    *,
    incidents: pd.DataFrame | None,
    bases: pd.DataFrame | None,
    idp_sites: pd.DataFrame | None,
    header: MapHeader | dict,
    indicators: pd.DataFrame | None = None,
    tile_url: str | None = None,
    context: MapContext | None = None,
    context_budget_bytes: int = DEFAULT_BUDGET_BYTES,
    history: pd.DataFrame | None = None,
    cutoffs: dict[int, tuple[float, float, float]] | tuple[float, float, float] | None = None,
    impact: ImpactEstimate | None = None,
) -> str:
    """Complete, self-contained HTML risk map (see module docstring).

    The map is what planners open in the field, often offline and on a
    mission laptop that must not leak which places are being watched; so
    everything (libraries, styles, data) is inside the one file, every string
    from the data is escaped, and the page is checked before it is returned.

    ``context`` (borders, mission area, rivers, towns, mission layers) is
    clipped to the map extent and simplified to fit ``context_budget_bytes``
    (:func:`earlywarn.publish.context.prepare_context`); each part becomes its
    own layer in the layer control and a line in the legend.

    ``history`` holds earlier runs' scores (long table: locality_id, as_of,
    risk, risk_class, flags; :func:`earlywarn.publish.history.load_history`):
    the map then gets a time control that repaints risk and flags as each run
    published them, and a "changes since the previous run" panel.

    ``header["horizons"]`` with two or more horizons (and ``primary_horizon``)
    adds a horizon switch over the table's ``risk_{h}w``, ``risk_class_{h}w``
    and ``driver_1..3_{h}w`` columns (:mod:`earlywarn.publish.horizons`);
    without it the map is the single-horizon map.

    Parameters
    ----------
    localities : geopandas.GeoDataFrame
        Scored localities: ``locality_id``, ``name``, ``risk``, ``risk_class``,
        drivers and flags (see :func:`earlywarn.publish.sample.grid_localities`
        for the full set); reprojected to EPSG:4326 if needed.
    incidents, bases, idp_sites : pandas.DataFrame or None
        Point layers (``lon``/``lat`` plus their labels); None leaves a layer out.
    header : MapHeader or dict
        Title block: mission, as-of and run dates, model version, run id,
        caveat, feed freshness, warnings, risk scheme. The nightly run passes a
        :class:`~earlywarn.publish.header.MapHeader`; a plain mapping with the
        same keys also works (see :func:`earlywarn.publish.sample.header`).
    indicators : pandas.DataFrame, optional
        The agreed indicators panel (name, value, unit, status, change).
    tile_url : str, optional
        Basemap tile template; the only external reference allowed.
    context : MapContext, optional
        Geographic context layers.
    context_budget_bytes : int
        Size budget for the context layers.
    history : pandas.DataFrame, optional
        Earlier runs' scores, for the time control.
    cutoffs : dict or tuple, optional
        The class cut-offs in force (moderate, high, very high), per horizon in
        weeks or one tuple for the primary horizon; figures are printed so they
        never contradict their class (:mod:`earlywarn.numbers`). Default: the
        table's ``attrs["risk_cutoffs"]`` when the decision table set it.
    impact : earlywarn.actions.ImpactEstimate, optional
        The impact of the mission's actions: a toggleable layer of the places
        actions stood, coloured by the measured change in reported attacks,
        with the caveat in every popup and a side-panel section
        (:mod:`earlywarn.publish.impact`).
    language : {"en", "fr"}, optional
        The language of every word and number on the page (:mod:`earlywarn.i18n`;
        default: the language in force). Data (names, notes) is never translated;
        the ``header`` texts are taken as given, so build them in the same language.

    Returns
    -------
    str
        The HTML document (write it with :func:`earlywarn.publish.exports.publish_map`).

    Raises
    ------
    earlywarn.publish.safety.OfflineError
        If the result would reference anything outside the file other than ``tile_url``.

    Examples
    --------
    Six synthetic localities, with script injections in names and notes:

    >>> import tempfile
    >>> from datetime import date
    >>> from earlywarn.publish import sample
    >>> from earlywarn.publish.exports import publish_map
    >>> from earlywarn.publish.safety import external_urls
    >>> locs = sample.grid_localities(nx=3, ny=2)
    >>> html = render_map(locs, **sample.render_inputs(locs, hostile=True, with_context=False))
    >>> html.startswith("<!DOCTYPE html>"), external_urls(html)
    (True, [])
    >>> "<script>alert(1)</script>" in html
    False
    >>> paths = publish_map(html, tempfile.mkdtemp(), as_of=date(2024, 5, 1))
    >>> paths["latest"].name, paths["archive"].name
    ('latest.html', 'risk_2024-05-01.html')
    """
    if isinstance(header, MapHeader):
        header = header.as_dict()
    if localities.crs is not None and not localities.crs.equals("EPSG:4326"):
        localities = localities.to_crs("EPSG:4326")
    locs = localities.reset_index(drop=True)
    hz = horizons_of(header, locs)
    cuts_by_h = _cutoffs_by_horizon(cutoffs if cutoffs is not None else localities.attrs.get("risk_cutoffs"), header)
    primary_cuts = cuts_by_h.get(hz.primary if hz is not None else _primary_weeks(header))
    if primary_cuts is None and len(cuts_by_h) == 1 and hz is None:
        primary_cuts = next(iter(cuts_by_h.values()))
    disp = locality_display(locs, primary_cuts)
    enc = encode_polygons(locs.geometry)
    geom_ok = np.diff(enc.geom_offsets) > 0
    disp["idx"] = np.where(geom_ok, np.arange(len(disp)), -1)

    flag_zoom = flag_min_zoom(locs.geometry)
    flagged = (disp["fd"] | disp["ha"]).to_numpy(dtype=bool) & geom_ok
    rep = locs.geometry[flagged].representative_point()
    flags = np.column_stack([np.flatnonzero(flagged), np.round(rep.y.to_numpy(), 5), np.round(rep.x.to_numpy(), 5)])
    loc_payload = {
        "geom": enc.to_payload(),
        "props": {
            **{c: disp[c].tolist() for c in ("name", "pcode", "adm1", "risk", "chg", "d1", "d2", "d3", "fdr", "har")},
            # Optional columns cost nothing when the table lacks them.
            **{c: disp[c].tolist() for c, src in (("adm1n", "admin1_name"), ("adm2", "admin2_pcode"),
                                                   ("adm2n", "admin2_name"), ("aka", "aliases")) if src in locs},
            **{c: disp[c].astype(int).tolist() for c in ("cls", "fd", "ha")},
            **{c: disp[c].tolist() for c in ("pop", "popest", "ear", "idp", "km")},
            "cov": _json_list(disp["cov"]),
            "rank": _json_list(disp["rank"]),
            # the team's assessment, only on a mission that has an assessments file
            **({c: disp[c].tolist() for c in ("tdate", "tuntil", "tauth", "trat")}
               | {c: disp[c].astype(int).tolist() for c in ("tl", "dis")}
               # the model's class the disagreement was judged on (latest run, primary horizon), whatever is shown
               | {"tm": disp["cls"].astype(int).tolist()} if "team_level" in locs else {}),
        },
        "flags": [[int(i), float(a), float(b)] for i, a, b in flags.tolist()],
        "classes": panels.class_labels(),
        "colors": list(panels.CLASS_COLORS),
        "noData": panels.NO_DATA_COLOR,
        "fdColor": panels.FD_COLOR,
        "haColor": panels.HA_COLOR,
        "cuts": cut_tenths(primary_cuts),
        "canvas": int(geom_ok.sum()) > SVG_MAX_LOCALITIES,
        "flagMinZoom": flag_zoom,
        "bounds": None,  # set below, once the other layers are known
    }
    hz_payload = horizon_payload(locs, hz, header, cuts_by_h) if hz is not None else None
    if hz_payload is not None:
        loc_payload["hz"] = hz_payload
    as_of = str(header.get("as_of") or _("this run"))
    hist = history_payload(locs, history, as_of) if history is not None else None
    if hist is not None:
        loc_payload["hist"] = hist

    bounds = _bounds(locs, incidents, bases, idp_sites)
    loc_payload["bounds"] = bounds
    m = folium.Map(
        location=[(bounds[0][0] + bounds[1][0]) / 2, (bounds[0][1] + bounds[1][1]) / 2],
        zoom_start=6,
        tiles=None,
        control_scale=True,
        # Without a tile layer Leaflet knows no zoom range; marker clustering needs one.
        # (folium's own min_zoom/max_zoom only reach the tile layer, hence camelCase here).
        minZoom=3,
        maxZoom=18,
        zoomSnap=0.25,
    )
    # No CDN: folium's default Leaflet/jQuery/Bootstrap/Font Awesome links go.
    m.default_js = []
    m.default_css = []
    allow: list[str] = []
    if tile_url:
        allow.append(_tile_prefix(tile_url))
        folium.TileLayer(tiles=tile_url, attr=_("Basemap tiles"), name=_("Basemap"), control=False).add_to(m)

    def named(label: str, n: int) -> str:
        return f"{label} ({decimal(n)})"

    _Language().add_to(m)
    n_loc = int(geom_ok.sum())
    _EwLayer(named(_("Risk by locality"), n_loc), "localityLayer", script_json(loc_payload)).add_to(m)
    _EwLayer(named(_("Forward-deployment flags"), int(disp["fd"].sum())), "flagLayer", script_json("fd")).add_to(m)
    _EwLayer(named(_("Humanitarian-access flags"), int(disp["ha"].sum())), "flagLayer", script_json("ha")).add_to(m)
    has = {"incidents": incidents is not None, "bases": bases is not None, "idp": idp_sites is not None}
    if idp_sites is not None:
        p = _idp_payload(idp_sites)
        _EwLayer(named(_("IDP sites"), len(p["lat"])), "idpLayer", script_json(p)).add_to(m)
    if bases is not None:
        p = _base_payload(bases)
        _EwLayer(named(_("Bases and patrol radii"), len(p["lat"])), "baseLayer", script_json(p)).add_to(m)
    if incidents is not None:
        p = _incident_payload(incidents)
        _EwLayer(named(_("Incidents, clustered"), len(p["lat"])), "incidentLayer", script_json(p)).add_to(m)
    team = _team_payload(locs, disp) if "team_level" in locs else None
    if team is not None:
        n_dis = sum(team["dis"])
        _EwLayer(_("Team assessments ({n}; {k} disagree)").format(n=decimal(len(team["i"])), k=decimal(n_dis)),
                 "teamLayer", script_json(team)).add_to(m)
    has["team"] = "team_level" in locs
    impact_data = impact_payload(impact) if impact is not None else None
    if impact_data is not None:
        n_act = sum(len(a) for a in impact_data["acts"])
        _EwLayer(named(_("Actions and their impact"), n_act), "impactLayer", script_json(impact_data)).add_to(m)
    fit = None
    if context is not None:
        box = (bounds[0][1], bounds[0][0], bounds[1][1], bounds[1][0])
        fit = prepare_context(context, box, context_budget_bytes)
        for name, fn, payload in _context_layers(context, fit):
            _EwLayer(name, fn, script_json(payload)).add_to(m)
    folium.LayerControl(collapsed=False, position="topright").add_to(m)
    _Finish().add_to(m)

    fig = m.get_root()
    fig.title = esc(f"{_('POC risk map')} {header.get('mission') or ''} {header.get('as_of') or ''}".strip())
    fig.header.add_child(_Raw(inline_head()), name="ew_assets")
    if hz_payload is None:
        ranges, counts = _class_ranges(disp, primary_cuts)
        shown, shown_adj, scorer, scheme = None, None, "", esc(header.get("risk_scheme"), 300)
    else:
        p = hz_payload["p"]
        ranges, counts = hz_payload["legend"][p]["r"], hz_payload["legend"][p]["n"]
        shown, shown_adj = hz_payload["label"][p], hz_payload["adj"][p]
        scorer, scheme = hz_payload["scorer"][p], hz_payload["legend"][p]["s"]
    fig.html.add_child(_Raw(panels.header_html(header, shown, scorer)), name="ew_header")
    if hist is not None:
        fig.html.add_child(_Raw(time_control_html(hist["dates"])), name="ew_time")
    if hz is not None:
        fig.html.add_child(_Raw(horizon_control_html(hz)), name="ew_horizon")
    side = (
        '<aside id="ew-side">'
        + panels.search_html(disp.loc[disp["idx"] >= 0, "name"])
        + panels.priority_html(disp, shown_adj, population_basis(locs))
        + (changes_html(change_lists(locs, history, disp["idx"].to_numpy())) if hist is not None else "")
        + panels.indicators_html(indicators)
        + (impact_panel_html(impact) if impact is not None else "")
        + "</aside>"
    )
    fig.html.add_child(_Raw(side), name="ew_side")
    legend = panels.legend_html(ranges, counts, has, flag_zoom, scheme, _context_legend(context, fit), shown,
                                extra=impact_legend_html(impact_data))
    fig.html.add_child(_Raw(legend), name="ew_legend")
    _renumber(fig)
    document = fig.render().replace("<html>", f'<html lang="{i18n.current()}">', 1)
    assert_offline(document, allow=allow)
    return document


def _page_language() -> str:
    """The script giving ``ewmap.js`` its texts and number format in the language in force (``EW.tr``, fmtRisk)."""
    lang = {"T": js_messages(), "lang": i18n.current(), "dec": i18n.decimal_sign(), "pct": i18n.percent_suffix()}
    return f"Object.assign(EW, {script_json(lang)});\n"


def _primary_weeks(header: dict[str, Any]) -> int | None:
    raw = header.get("primary_horizon", header.get("horizon_weeks"))
    try:
        return int(raw) if raw is not None else None
    except (TypeError, ValueError):
        return None


def _cutoffs_by_horizon(cutoffs: Any, header: dict[str, Any]) -> dict[int, tuple[float, float, float]]:
    """``cutoffs`` as {weeks: (moderate, high, very high)}; a bare tuple is the primary horizon's."""
    if cutoffs is None:
        return {}
    if isinstance(cutoffs, dict):
        return {int(h): tuple(float(x) for x in c) for h, c in cutoffs.items() if c is not None}  # type: ignore[misc]
    return {_primary_weeks(header) or 0: tuple(float(x) for x in cutoffs)}  # type: ignore[dict-item]


# Context parts in drawing order: key in ContextFit.payloads, control label, style (ewmap.js), legend text.
_CONTEXT_PARTS = (
    ("borders", N_("Country borders"), "border", N_("country border")),
    ("area", N_("Mission area"), "area", N_("mission area outline")),
    ("rivers", N_("Rivers"), "river", N_("river (name on hover)")),
)

# Incident kinds (earlywarn.schema) as the map's popups name them; a kind not listed shows as it is, "_" as " ".
KIND_LABELS = {
    "clash": N_("clash"), "violence_against_civilians": N_("violence against civilians"),
    "remote_violence": N_("remote violence"), "abduction": N_("abduction"), "sexual_violence": N_("sexual violence"),
    "aid_worker_attack": N_("aid worker attack"), "access_denial": N_("access denial"), "riot": N_("riot"),
    "protest": N_("protest"), "strategic": N_("strategic"), "other": N_("other"),
}


def kind_label(kind: str) -> str:
    """An incident kind as people read it, in the language in force."""
    return _(KIND_LABELS[kind]) if kind in KIND_LABELS else str(kind).replace("_", " ")


def _count(payload: dict[str, Any]) -> int:
    return len(payload["lat"]) if "lat" in payload else len(payload["geom"]["g"]) - 1


def _context_layers(context: MapContext, fit: ContextFit) -> list[tuple[str, str, dict[str, Any]]]:
    """(layer-control name, EW function, payload) for each context part that has data."""
    out: list[tuple[str, str, dict[str, Any]]] = []
    for key, label, style, _text in _CONTEXT_PARTS:
        if key in fit.payloads:
            name = f"{_(label)} ({decimal(_count(fit.payloads[key]))})" if key == "rivers" else _(label)
            out.append((name, "contextLines", {**fit.payloads[key], "style": style}))
    for k, ly in enumerate(context.layers):
        if (payload := fit.payloads.get(f"layer{k}")) is not None:
            fn = "contextPoints" if payload["style"] == "point" else "contextLines"
            color = LAYER_COLORS[k % len(LAYER_COLORS)]
            out.append((f"{esc(ly.name, 60)} ({decimal(_count(payload))})", fn, {**payload, "color": color}))
    if "towns" in fit.payloads:
        out.append((f"{_('Towns')} ({decimal(_count(fit.payloads['towns']))})", "townLayer", fit.payloads["towns"]))
    return out


def _context_legend(context: MapContext | None, fit: ContextFit | None) -> list[tuple[str, str, str]]:
    """Legend rows (kind, escaped label, colour) for the context layers drawn."""
    if context is None or fit is None:
        return []
    rows = [(style, _(text), "") for key, _label, style, text in _CONTEXT_PARTS if key in fit.payloads]
    for k, ly in enumerate(context.layers):
        if (payload := fit.payloads.get(f"layer{k}")) is not None:
            rows.append((payload["style"], esc(ly.name, 60), LAYER_COLORS[k % len(LAYER_COLORS)]))
    if "towns" in fit.payloads:
        rows.append(("town", _("town"), ""))
    if fit.dropped_points.get("towns"):
        rows.append(("note", _("{n} smaller towns not shown (file size budget)").format(
            n=decimal(fit.dropped_points["towns"])), ""))
    if context.attribution:
        rows.append(("note", esc(context.attribution, 200), ""))
    return rows


def _bounds(locs: gpd.GeoDataFrame, *points: pd.DataFrame | None) -> list[list[float]]:
    """[[south, west], [north, east]] of everything drawn (world if nothing)."""
    boxes = []
    valid = locs.geometry[~(locs.geometry.isna() | locs.geometry.is_empty)]
    if len(valid):
        boxes.append(valid.total_bounds)
    for df in points:
        if df is not None and len(df):
            p = _points(df)
            if len(p):
                lon, lat = _num(p, "lon"), _num(p, "lat")
                boxes.append(np.array([lon.min(), lat.min(), lon.max(), lat.max()]))
    if not boxes:
        return [[-60.0, -170.0], [75.0, 170.0]]
    b = np.vstack(boxes)
    return [[float(b[:, 1].min()), float(b[:, 0].min())], [float(b[:, 3].max()), float(b[:, 2].max())]]
