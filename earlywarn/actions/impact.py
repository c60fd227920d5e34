"""Did civilians become safer after an action? Matched difference in differences, and what it cannot say.

For every action: the localities it reached (representative point within its
radius, or the kind's default radius, plus the locality it stands in), the
reported attacks on civilians there in ``window_weeks`` before and after it,
against comparable localities no action reached around that time, matched
one by one on the attacks and incidents they had before it (nearest
neighbours on log counts of target incidents in the before window, of any
incident in that window, and of target incidents in the year before it).

The effect is the relative change in the rate of *reported* attacks beyond
the change in the comparison localities::

    effect = (after_reached / before_reached) / (after_comparison / before_comparison) - 1

(-0.28: 28% fewer reported attacks than the comparison localities' trend
implies). Actions of one kind and change are pooled by summing the counts of
their reached and matched comparison localities before and after (each
action's comparisons stand for as many locality-weeks as it reached), which
stays defined when single actions saw no attack. Intervals are seeded bootstrap percentiles:
comparison localities and weeks are resampled within each action (the same
weeks for reached and comparison places, so common shocks cancel), and the
actions themselves for a pooled row.

What it cannot show is in :data:`CAVEAT`: the command prints it and the map
and the brief must repeat it next to any number from this table.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd

from earlywarn import progress
from earlywarn.config import ImpactConfig, TargetConfig
from earlywarn.features.panel import target_mask
from earlywarn.geo.localities import assign_incidents, utm_crs_for
from earlywarn.i18n import N_, _, percent, signed_percent

CAVEAT = N_(  # printed translated: caveat()
    "What this estimate cannot show. It compares reported attacks on civilians where an action reached "
    "with comparable places it did not reach, before and after. Two things move that number besides the "
    "action's real effect. Selection: deployments go where violence is, and where it was about to rise or "
    "fall; matching on past attacks removes only part of that. Detection: reporting rises where "
    "peacekeepers are (patrols, joint protection teams and community alert networks hear of attacks that "
    "would otherwise go unrecorded), so more reported attacks after a deployment may mean better reporting, "
    "not more violence, and a real fall in attacks is partly hidden by it. The true effect on civilians "
    "cannot be told apart from the change in reporting without more data, such as reporting that does not "
    "depend on the mission's presence (population surveys, hospital or displacement records) or a measure "
    "of how reporting changed. Read the effect as the change in reported attacks, with its interval; "
    "an interval that includes 0 means no change could be told apart from chance."
)

# The table's columns and what each means (the README and the brief quote this).
COLUMNS: dict[str, str] = {
    "action_id": "the action (feed:id), or 'pooled:<kind> <change>' for a pooled row",
    "scope": "'action' (one action) or 'pooled' (every estimable action of this kind and change)",
    "kind": "base | tob | patrol | jpt | convoy | other",
    "change": "opened | closed | reinforced | reduced | deployed",
    "start": "first day the action was in effect (pooled: the first action's)",
    "start_earliest": "earliest day it may have begun (Geo-PKO: the day after the previous snapshot)",
    "source": "the action feed",
    "name": "the action's place name",
    "radius_km": "radius used to decide which localities it reached",
    "locality_ids": "localities reached, ';'-separated",
    "names": "their names, ';'-separated",
    "n_localities": "number of localities reached",
    "n_actions": "actions in the row (1 for an action)",
    "window_weeks": "weeks before and after compared",
    "attacks_before": "reported attacks on civilians in the reached localities, window before",
    "attacks_after": "the same, window after",
    "before_rate_reached": "reported attacks per locality per week in the reached localities, before",
    "after_rate_reached": "the same, after",
    "before_rate_comparison": "reported attacks per locality per week in the matched comparison localities, before",
    "after_rate_comparison": "the same, after",
    "n_comparison": "distinct comparison localities",
    "effect": "relative change in the rate of REPORTED attacks on civilians beyond the comparison's change "
              "(-0.28 = 28% fewer); see the caveat: reporting and selection move it too",
    "ci_low": "lower end of the bootstrap interval of effect (level impact.level, default 90%)",
    "ci_high": "upper end",
    "note": "why a row has no estimate (e.g. fewer than impact.min_attacks reported attacks)",
    "end": "last day the action was in effect (empty: a one-off change, open-ended or unknown; pooled: empty)",
    "lon": "where the action stood, WGS 84 (placed by p-code: that locality's representative point; pooled: empty)",
    "lat": "the same, latitude",
}

# Changes that bring the mission closer to civilians (a base closed or reduced reaches nobody new):
# the action indicators count only these (earlywarn.decide.indicators).
PROTECTIVE_CHANGES = ("opened", "reinforced", "deployed")


@dataclass
class ImpactEstimate:
    """An impact table with what must be said beside it wherever it is shown: the interval level and its origin.

    The nightly run makes one (``source``: estimated in this run), or reads
    the last ``impact.csv`` written when it has none of its own; the map
    layer and the brief page print ``source`` so an old estimate is never
    taken for tonight's.
    """

    table: pd.DataFrame  # COLUMNS
    level: float = 0.9  # impact.level it was computed at
    source: str = "estimated in this run"


@dataclass
class ImpactInputs:
    """Weekly reported-attack and incident counts per locality, and where each locality is.

    Built once per run (:func:`weekly_counts`), shared by every action.
    """

    locality_ids: np.ndarray  # (L,) str
    names: np.ndarray  # (L,) str
    xy_km: np.ndarray  # (L, 2) representative points, km in the local UTM zone
    origin: np.datetime64  # day of week 0
    target: np.ndarray  # (L, W) reported attacks on civilians per week
    any: np.ndarray  # (L, W) incidents of any kind per week
    crs: object  # the projected CRS of xy_km
    localities: gpd.GeoDataFrame
    unit: str

    @property
    def n_weeks(self) -> int:
        """Complete weeks of incident data."""
        return int(self.target.shape[1])


def weekly_counts(
    incidents: pd.DataFrame,
    localities: gpd.GeoDataFrame,
    unit: str,
    target: TargetConfig | None = None,
    end=None,
    locality_of: pd.Series | None = None,
) -> ImpactInputs:
    """Count reported attacks on civilians (the mission's target) and all incidents per locality and week.

    Weeks run from the first incident's Monday to ``end`` (default the last
    incident's day); a week is counted only when complete. Incidents are
    placed by :func:`earlywarn.geo.localities.assign_incidents`, as for the
    threat model, so "an attack in this locality" means the same everywhere.

    Parameters
    ----------
    incidents : pandas.DataFrame
        Canonical incidents (after cross-source dedupe).
    localities : geopandas.GeoDataFrame
        ``locality_id``, ``name``, geometry.
    unit : str
        ``admin``, ``priogrid`` or ``km_grid``.
    target : TargetConfig, optional
        What counts as an attack on civilians (default: the mission default).
    end : date-like, optional
        Last day of data.
    locality_of : pandas.Series, optional
        Each incident's locality id, aligned to ``incidents`` (the nightly
        run's own assignment, so the run places every incident once);
        computed here when not given.

    Returns
    -------
    ImpactInputs
    """
    loc = localities.reset_index(drop=True)
    crs = utm_crs_for(loc)
    rp = loc.geometry.representative_point().to_crs(crs)
    xy = np.column_stack([rp.x.to_numpy(), rp.y.to_numpy()]) / 1000.0
    lid = assign_incidents(incidents, loc, unit) if locality_of is None else locality_of.reindex(incidents.index)
    pos = pd.Index(loc["locality_id"].astype(str)).get_indexer(lid.fillna("").astype(str))
    day = pd.to_datetime(incidents["date_start"]).to_numpy("datetime64[D]")
    first = day.min() if len(day) else np.datetime64("2000-01-03")
    origin = first - ((first.astype("datetime64[D]").view("int64") - 4) % 7)  # Monday (1970-01-05 is a Monday)
    last = np.datetime64(pd.Timestamp(end).date(), "D") if end is not None else (day.max() if len(day) else origin)
    n_wk = max(int((last - origin).astype(int) + 1) // 7, 1)
    wk = ((day - origin).astype(int) // 7).astype(np.int64)
    ok = (pos >= 0) & (wk >= 0) & (wk < n_wk)
    is_t = target_mask(incidents, target)
    L = len(loc)
    flat = pos[ok] * n_wk + wk[ok]
    any_c = np.bincount(flat, minlength=L * n_wk).reshape(L, n_wk).astype(np.int32)
    tgt_c = np.bincount(flat, weights=is_t[ok].astype(float), minlength=L * n_wk).reshape(L, n_wk).astype(np.int32)
    names = loc["name"].astype("string").fillna(loc["locality_id"].astype("string")).to_numpy(str) \
        if "name" in loc else loc["locality_id"].astype(str).to_numpy()
    return ImpactInputs(loc["locality_id"].astype(str).to_numpy(), names, xy, origin, tgt_c, any_c, crs, loc, unit)


def reached_localities(inputs: ImpactInputs, lon: np.ndarray, lat: np.ndarray, radius_km: np.ndarray,
                       pcode: np.ndarray | None = None) -> np.ndarray:
    """Boolean (actions x localities): which localities each action reached.

    A locality is reached when its representative point lies within the
    radius (straight line, local UTM km, as base coverage is decided in
    :mod:`earlywarn.decide.flags`), and the locality an action stands in is
    always reached. An action placed by p-code stands at that locality's
    representative point. Actions with no resolvable place reach nothing.
    """
    n = len(radius_km)
    lon = np.asarray(lon, dtype=float).copy()
    lat = np.asarray(lat, dtype=float).copy()
    ids = pd.Index(inputs.locality_ids)
    xy = np.full((n, 2), np.nan)
    have = np.isfinite(lon) & np.isfinite(lat)
    if have.any():
        pts = gpd.GeoSeries(gpd.points_from_xy(lon[have], lat[have]), crs="EPSG:4326").to_crs(inputs.crs)
        xy[have] = np.column_stack([pts.x.to_numpy(), pts.y.to_numpy()]) / 1000.0
    home = np.full(n, -1)
    if pcode is not None:
        p = ids.get_indexer(pd.Series(pcode, dtype="string").fillna("").astype(str))
        by_p = ~have & (p >= 0)
        xy[by_p] = inputs.xy_km[p[by_p]]
        home[by_p] = p[by_p]
    if have.any():
        lid = assign_incidents(pd.DataFrame({"lon": lon[have], "lat": lat[have]}), inputs.localities, inputs.unit)
        home[np.flatnonzero(have)] = ids.get_indexer(lid.fillna("").astype(str))
    d = np.hypot(xy[:, None, 0] - inputs.xy_km[None, :, 0], xy[:, None, 1] - inputs.xy_km[None, :, 1])
    reach = np.nan_to_num(d, nan=np.inf) <= np.asarray(radius_km, dtype=float)[:, None] + 1e-9
    rows = np.flatnonzero(home >= 0)
    reach[rows, home[rows]] = True
    return reach


def localities_reached(localities: gpd.GeoDataFrame, unit: str, lon, lat, radius_km) -> np.ndarray:
    """Boolean (points x localities): which localities an action at each point with that radius reaches.

    The same rule as :func:`reached_localities`, from the localities alone
    (the demo scenario uses it to plant its known effect exactly where the
    estimator will look).

    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> loc = gpd.GeoDataFrame({"locality_id": ["a", "b", "c"]},
    ...     geometry=[box(30 + 0.2 * i, 7, 30.2 + 0.2 * i, 7.2) for i in range(3)], crs="EPSG:4326")
    >>> localities_reached(loc, "admin", [30.1, 30.19], [7.1, 7.1], [5, 15]).astype(int).tolist()
    [[1, 0, 0], [1, 1, 0]]
    """
    inputs = _places_only(localities, unit)
    return reached_localities(inputs, np.asarray(lon, float), np.asarray(lat, float),
                              np.broadcast_to(np.asarray(radius_km, float), (len(np.atleast_1d(lon)),)))


def _places_only(localities: gpd.GeoDataFrame, unit: str) -> ImpactInputs:
    """Where each locality is, with no counts: enough to decide what an action reached."""
    loc = localities.reset_index(drop=True)
    crs = utm_crs_for(loc)
    rp = loc.geometry.representative_point().to_crs(crs)
    xy = np.column_stack([rp.x.to_numpy(), rp.y.to_numpy()]) / 1000.0
    ids = loc["locality_id"].astype(str).to_numpy()
    empty = np.zeros((len(loc), 0), dtype=np.int32)
    return ImpactInputs(ids, ids, xy, np.datetime64("2000-01-03"), empty, empty, crs, loc, unit)


def action_radius(actions: pd.DataFrame, cfg: ImpactConfig | None = None) -> np.ndarray:
    """Each action's radius in km: its own (``radius_km``), else its kind's default (``impact.radius_km``).

    >>> action_radius(pd.DataFrame({"kind": ["tob", "convoy"], "radius_km": [15.0, np.nan]})).tolist()
    [15.0, 5.0]
    """
    cfg = cfg or ImpactConfig()
    n = len(actions)
    radius = actions["radius_km"].astype(float).to_numpy() if "radius_km" in actions else np.full(n, np.nan)
    default = actions["kind"].astype(str).map(cfg.radius_km).astype(float).to_numpy()
    return np.where(np.isfinite(radius), radius, default)


def action_reach(actions: pd.DataFrame, localities: gpd.GeoDataFrame, unit: str,
                 cfg: ImpactConfig | None = None) -> np.ndarray:
    """Boolean (actions x localities, in the localities' order): which localities each action reached.

    The estimate's own rule (:func:`reached_localities` with
    :func:`action_radius`; an action placed by p-code stands at that
    locality), so the agreed indicators built on it
    (:mod:`earlywarn.decide.indicators`) and the impact table agree on what
    "reached" means.

    >>> from shapely.geometry import box
    >>> loc = gpd.GeoDataFrame({"locality_id": ["a", "b", "c"]},
    ...     geometry=[box(30 + 0.2 * i, 7, 30.2 + 0.2 * i, 7.2) for i in range(3)], crs="EPSG:4326")
    >>> acts = pd.DataFrame({"kind": ["tob", "patrol"], "lon": [30.1, np.nan], "lat": [7.1, np.nan],
    ...                      "pcode": [pd.NA, "c"], "radius_km": [25.0, np.nan]})
    >>> action_reach(acts, loc, "admin").astype(int).tolist()
    [[1, 1, 0], [0, 0, 1]]
    """
    inputs = _places_only(localities, unit)
    pcode = actions["pcode"].to_numpy(object) if "pcode" in actions else None
    lon = actions["lon"].to_numpy(float) if "lon" in actions else np.full(len(actions), np.nan)
    lat = actions["lat"].to_numpy(float) if "lat" in actions else np.full(len(actions), np.nan)
    return reached_localities(inputs, lon, lat, action_radius(actions, cfg), pcode)


def _positions(inputs: ImpactInputs, acts: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Where each action stood (lon, lat): its coordinates, else its p-code's representative point, else NaN."""
    n = len(acts)
    lon = acts["lon"].to_numpy(float).copy() if "lon" in acts else np.full(n, np.nan)
    lat = acts["lat"].to_numpy(float).copy() if "lat" in acts else np.full(n, np.nan)
    if "pcode" in acts and n:
        p = pd.Index(inputs.locality_ids).get_indexer(pd.Series(acts["pcode"], dtype="string").fillna("").astype(str))
        by_p = ~(np.isfinite(lon) & np.isfinite(lat)) & (p >= 0)
        if by_p.any():
            geom = inputs.localities.geometry.iloc[p[by_p]].representative_point()
            if geom.crs is not None:
                geom = geom.to_crs("EPSG:4326")
            lon[by_p], lat[by_p] = geom.x.to_numpy(), geom.y.to_numpy()
    return lon, lat


def _week_of(inputs: ImpactInputs, when: pd.Series, *, ceil: bool) -> np.ndarray:
    d = pd.to_datetime(when).to_numpy("datetime64[D]")
    off = (d - inputs.origin).astype("timedelta64[D]").astype(float)
    k = np.ceil(off / 7.0) if ceil else np.floor(off / 7.0)
    return np.where(np.isnat(d), -10**9, k).astype(np.int64)


def _match(feat: np.ndarray, treated: np.ndarray, pool: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Indices into ``pool``: the k nearest comparison localities for each treated one (ties broken at random)."""
    f = feat
    scale = f[pool].std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    z = f / scale
    d = ((z[treated][:, None, :] - z[pool][None, :, :]) ** 2).sum(-1)
    jitter = rng.random(d.shape) * 1e-9
    k = min(k, len(pool))
    return np.argsort(d + jitter, axis=1, kind="stable")[:, :k]


def _effect(at, bt, ac, bc):
    with np.errstate(divide="ignore", invalid="ignore"):
        e = (at * bc) / (bt * ac) - 1.0
    return np.where((bt > 0) & (ac > 0) & (bc > 0), e, np.nan)


def _interval(reps: np.ndarray, level: float) -> tuple[float, float]:
    ok = np.isfinite(reps)
    if ok.mean() < 0.8:  # too many replicates with nothing to compare: no honest interval
        return np.nan, np.nan
    a = (1 - level) / 2
    lo, hi = np.quantile(reps[ok], [a, 1 - a])
    return float(lo), float(hi)


def estimate_impact(
    actions: pd.DataFrame,
    inputs: ImpactInputs,
    cfg: ImpactConfig | None = None,
) -> pd.DataFrame:
    """The impact table: one row per action and one ``pooled`` row per kind and change (:data:`COLUMNS`).

    Parameters
    ----------
    actions : pandas.DataFrame
        Canonical actions (:data:`earlywarn.actions.feeds.ACTIONS`), from every feed.
    inputs : ImpactInputs
        Weekly counts from :func:`weekly_counts`.
    cfg : ImpactConfig, optional
        Window, default radii per kind, neighbours, bootstrap size and seed.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`COLUMNS`, action rows sorted by start then id, then pooled rows.

    Examples
    --------
    Six localities in a row 20 km apart; a base opens in the first at week 12 and
    reported attacks there halve while the others stay as they were:

    >>> import geopandas as gpd, pandas as pd, numpy as np
    >>> from shapely.geometry import box
    >>> loc = gpd.GeoDataFrame({"locality_id": [f"L{i}" for i in range(6)], "name": list("ABCDEF")},
    ...     geometry=[box(30 + 0.18 * i, 7, 30.18 + 0.18 * i, 7.18) for i in range(6)], crs="EPSG:4326")
    >>> rng = np.random.default_rng(0)
    >>> rows = []
    >>> for i in range(6):
    ...     for w in range(24):
    ...         n = rng.poisson(4 if (i == 0 and w >= 12) else 8)
    ...         rows += [{"date_start": pd.Timestamp("2024-01-01") + pd.Timedelta(weeks=w), "kind":
    ...                   "violence_against_civilians", "lon": 30.09 + 0.18 * i, "lat": 7.09}] * n
    >>> inputs = weekly_counts(pd.DataFrame(rows), loc, "admin", end="2024-06-16")
    >>> acts = pd.DataFrame({"action_id": ["log:1"], "source": ["log"], "kind": ["base"], "change": ["opened"],
    ...     "start": [pd.Timestamp("2024-03-25")], "start_earliest": [pd.NaT], "end": [pd.NaT], "lon": [30.09],
    ...     "lat": [7.09], "pcode": [pd.NA], "radius_km": [5.0], "name": ["A"]})
    >>> out = estimate_impact(acts, inputs, ImpactConfig(neighbours=3, n_boot=200))
    >>> r = out.iloc[0]
    >>> r["scope"], r["locality_ids"], int(r["n_comparison"]), bool(-0.7 < r["effect"] < -0.3)
    ('action', 'L0', 3, True)
    >>> bool(r["ci_low"] < r["effect"] < r["ci_high"] < 0)
    True
    """
    cfg = cfg or ImpactConfig()
    W = cfg.window_weeks
    acts = actions.sort_values(["start", "action_id"], kind="stable").reset_index(drop=True)
    n_a = len(acts)
    L, n_wk = inputs.target.shape
    radius = action_radius(acts, cfg)
    lon, lat = _positions(inputs, acts)
    pcode = acts["pcode"].to_numpy(object) if "pcode" in acts else None
    with progress.stage(f"impact: which localities {n_a} action(s) reached"):
        reach = reached_localities(inputs, acts["lon"].to_numpy(float), acts["lat"].to_numpy(float), radius, pcode)
    start_e = acts["start_earliest"] if "start_earliest" in acts else pd.Series(pd.NaT, index=acts.index)
    start_e = pd.to_datetime(start_e).fillna(pd.to_datetime(acts["start"]))
    k0 = _week_of(inputs, start_e, ceil=False)  # before window: [k0 - W, k0)
    k1 = _week_of(inputs, acts["start"], ceil=True)  # after window: [k1, k1 + W)
    end_w = _week_of(inputs, acts["end"], ceil=True) if "end" in acts else np.full(n_a, -10**9)
    # weeks in which each action changed something: its start, and its end when it had one
    cum_t = np.concatenate([np.zeros((L, 1), np.int64), np.cumsum(inputs.target, axis=1, dtype=np.int64)], axis=1)
    cum_a = np.concatenate([np.zeros((L, 1), np.int64), np.cumsum(inputs.any, axis=1, dtype=np.int64)], axis=1)

    def win(cum, a, b):
        a, b = int(np.clip(a, 0, n_wk)), int(np.clip(b, 0, n_wk))
        return (cum[:, b] - cum[:, a]).astype(float)

    comps: list[dict | None] = []
    rows: list[dict] = []
    t_start, step = time.perf_counter(), max(1, n_a // 20)  # about 20 progress lines, however many actions
    progress.note("impact: %d action(s) to estimate", n_a)
    for i in range(n_a):
        if i and i % step == 0:
            el = time.perf_counter() - t_start
            progress.note("impact: action %d of %d, elapsed %s, ETA %s", i, n_a, progress.fmt_seconds(el),
                          progress.fmt_seconds(el / i * (n_a - i)))
        a = acts.iloc[i]
        treated = np.flatnonzero(reach[i])
        row = _base_row(a, radius[i], W, inputs, treated) | {"lon": lon[i], "lat": lat[i]}
        comps.append(None)
        rows.append(row)
        if not len(treated):
            row["note"] = _("place not found among the localities (coordinates outside, or unknown p-code)")
            continue
        if k0[i] - W < 0 or k1[i] + W > n_wk:
            row["note"] = _("the {n}-week windows before and after fall outside the incident data").format(n=W)
            continue
        lo, hi = k0[i] - W, k1[i] + W
        changed = ((k0 >= lo) & (k0 < hi)) | ((k1 >= lo) & (k1 < hi)) | ((end_w >= lo) & (end_w < hi))
        dirty = reach[changed].any(axis=0)
        dirty[treated] = True
        pool = np.flatnonzero(~dirty)
        if len(pool) < cfg.neighbours:
            row["note"] = _("too few localities untouched by any action to compare with")
            continue
        rng = np.random.default_rng([cfg.seed, i])
        # matched on: attacks in the before window, any incident in it, attacks in the year before it
        k = k0[i]
        feat = np.log1p(np.column_stack([win(cum_t, k - W, k), win(cum_a, k - W, k), win(cum_t, k - W - 52, k - W)]))
        m = pool[_match(feat, treated, pool, cfg.neighbours, rng)]  # (n_treated, k)
        k = m.shape[1]  # neighbours per reached locality
        uniq, mult = np.unique(m.ravel(), return_counts=True)
        tb = inputs.target[treated, k0[i] - W:k0[i]].sum(0).astype(float)  # (W,)
        ta = inputs.target[treated, k1[i]:k1[i] + W].sum(0).astype(float)
        cb = inputs.target[uniq, k0[i] - W:k0[i]].astype(float)  # (n_c, W)
        ca = inputs.target[uniq, k1[i]:k1[i] + W].astype(float)
        w = mult / k  # comparisons stand for as many localities as were reached
        at, bt = ta.sum(), tb.sum()
        ac, bc = float(w @ ca.sum(1)), float(w @ cb.sum(1))
        n_t = len(treated)
        row.update(
            attacks_before=int(bt), attacks_after=int(at),
            before_rate_reached=bt / (n_t * W), after_rate_reached=at / (n_t * W),
            before_rate_comparison=bc / (n_t * W), after_rate_comparison=ac / (n_t * W),
            n_comparison=int(len(uniq)),
        )
        row["effect"] = float(_effect(np.array(at), np.array(bt), np.array(ac), np.array(bc)))
        # bootstrap: weeks (shared by reached and comparison places) and comparison localities
        B = cfg.n_boot
        wb = _counts(rng.integers(0, W, (B, W)), W)
        wa = _counts(rng.integers(0, W, (B, W)), W)
        draw = rng.integers(0, m.size, (B, m.size))
        pos = np.searchsorted(uniq, m.ravel()[draw])
        wc = _counts(pos, len(uniq)) / k
        rep = {
            "at": wa @ ta, "bt": wb @ tb,
            "ac": np.einsum("bc,cw,bw->b", wc, ca, wa), "bc": np.einsum("bc,cw,bw->b", wc, cb, wb),
        }
        e = _effect(rep["at"], rep["bt"], rep["ac"], rep["bc"])
        row["ci_low"], row["ci_high"] = _interval(e, cfg.level)
        comps[i] = {"point": (at, bt, ac, bc), "rep": rep, "comparison": uniq}
        _too_few(row, at + bt, cfg.min_attacks)
    progress.note("impact: %d action(s) done in %s", n_a, progress.fmt_seconds(time.perf_counter() - t_start))
    out = pd.DataFrame(rows)
    pooled = _pooled(acts, out, comps, cfg)
    table = pd.concat([out, pooled], ignore_index=True) if len(pooled) else out
    return table.reindex(columns=list(COLUMNS))


def _too_few(row: dict, attacks: float, min_attacks: int) -> None:
    """No effect and no interval from fewer than ``min_attacks`` reported attacks (a change from 1 to 3 is
    +200% and means nothing); the counts and rates stay, and the note says why."""
    if attacks < min_attacks or not np.isfinite(row["effect"]):
        row["effect"] = row["ci_low"] = row["ci_high"] = np.nan
        row["note"] = _("too few reported attacks to estimate ({n} in the reached localities before and after; at "
                        "least {needed} needed, and some before and in the comparison after)").format(
            n=f"{attacks:.0f}", needed=min_attacks)


def _counts(idx: np.ndarray, n: int) -> np.ndarray:
    """Row-wise bincount: how often each of ``n`` items was drawn in each replicate."""
    B = idx.shape[0]
    flat = (np.arange(B)[:, None] * n + idx).ravel()
    return np.bincount(flat, minlength=B * n).reshape(B, n).astype(float)


def _base_row(a: pd.Series, radius: float, W: int, inputs: ImpactInputs, treated: np.ndarray) -> dict:
    return {
        "action_id": a["action_id"], "scope": "action", "kind": a["kind"], "change": a["change"],
        "start": a["start"], "start_earliest": a.get("start_earliest", pd.NaT), "source": a.get("source", pd.NA),
        "name": a.get("name", pd.NA), "radius_km": float(radius),
        "locality_ids": ";".join(inputs.locality_ids[treated]), "names": ";".join(inputs.names[treated]),
        "n_localities": int(len(treated)), "n_actions": 1, "window_weeks": W,
        "attacks_before": np.nan, "attacks_after": np.nan,
        "before_rate_reached": np.nan, "after_rate_reached": np.nan,
        "before_rate_comparison": np.nan, "after_rate_comparison": np.nan,
        "n_comparison": 0, "effect": np.nan, "ci_low": np.nan, "ci_high": np.nan, "note": pd.NA,
        "end": a.get("end", pd.NaT),
    }


def _pooled_effect(at, bt, ac, bc, axis=None):
    """Pooled ratio of ratios over actions: sums of counts, reached and matched comparison, after and before.

    Each action's comparisons stand for as many locality-weeks as it reached
    and were matched on its before window, so the sums keep every action's
    timing on both sides; unlike a per-action ratio (or Mantel-Haenszel over
    2 x 2 tables) it stays defined when single actions saw no attack.
    """
    return _effect(np.sum(at, axis=axis), np.sum(bt, axis=axis), np.sum(ac, axis=axis), np.sum(bc, axis=axis))


def _pooled(acts: pd.DataFrame, out: pd.DataFrame, comps: list[dict | None], cfg: ImpactConfig) -> pd.DataFrame:
    rows = []
    keys = acts[["kind", "change"]].astype(str).agg(" ".join, axis=1).to_numpy()
    for key in sorted(set(keys)):
        idx = [i for i in np.flatnonzero(keys == key) if comps[i] is not None]
        members = out.iloc[np.flatnonzero(keys == key)]
        kind, change = key.split(" ", 1)
        row = {c: np.nan for c in COLUMNS} | {
            "action_id": f"pooled:{key}", "scope": "pooled", "kind": kind, "change": change,
            "start": members["start"].min(), "start_earliest": pd.NaT, "end": pd.NaT, "source": ";".join(sorted(set(
                members["source"].dropna().astype(str)))), "name": pd.NA, "radius_km": np.nan,
            "window_weeks": cfg.window_weeks, "n_actions": len(idx), "n_comparison": 0, "note": pd.NA,
        }
        if not idx:
            row |= {"locality_ids": "", "names": "", "n_localities": 0,
                    "note": "no action of this kind could be estimated"}
            rows.append(row)
            continue
        est = out.iloc[idx]
        ids = sorted(set(";".join(est["locality_ids"]).split(";")) - {""})
        names = sorted(set(";".join(est["names"]).split(";")) - {""})
        pt = np.array([comps[i]["point"] for i in idx], dtype=float)  # (n, 4)
        n_loc_w = float((est["n_localities"] * cfg.window_weeks).sum())
        w = est["n_localities"].to_numpy(float) * cfg.window_weeks
        row |= {
            "locality_ids": ";".join(ids), "names": ";".join(names), "n_localities": len(ids),
            "attacks_before": int(pt[:, 1].sum()), "attacks_after": int(pt[:, 0].sum()),
            "before_rate_reached": pt[:, 1].sum() / n_loc_w, "after_rate_reached": pt[:, 0].sum() / n_loc_w,
            "before_rate_comparison": float((pt[:, 3]).sum() / w.sum()),
            "after_rate_comparison": float((pt[:, 2]).sum() / w.sum()),
            "n_comparison": int(len(set(np.concatenate([comps[i]["comparison"] for i in idx])))),
            "effect": float(_pooled_effect(pt[:, 0], pt[:, 1], pt[:, 2], pt[:, 3])),
        }
        reps = {k: np.stack([comps[i]["rep"][k] for i in idx]) for k in ("at", "bt", "ac", "bc")}  # (n, B)
        B = reps["at"].shape[1]
        rng = np.random.default_rng([cfg.seed, 10**6, len(idx), sum(map(ord, key))])
        pick = rng.integers(0, len(idx), (len(idx), B))  # resample the actions too
        cols = np.arange(B)[None, :]
        e = _pooled_effect(*(reps[k][pick, cols] for k in ("at", "bt", "ac", "bc")), axis=0)
        row["ci_low"], row["ci_high"] = _interval(np.asarray(e, dtype=float), cfg.level)
        _too_few(row, pt[:, 0].sum() + pt[:, 1].sum(), cfg.min_attacks)
        rows.append(row)
    return pd.DataFrame(rows)


def summary_lines(table: pd.DataFrame, level: float = 0.9) -> list[str]:
    """One plain sentence per pooled row, for the command line, the brief and the map (the caveat goes with it).

    >>> t = pd.DataFrame([{"scope": "pooled", "kind": "base", "change": "opened", "n_actions": 8,
    ...     "n_localities": 21, "n_comparison": 60, "effect": -0.25, "ci_low": -0.41, "ci_high": -0.06,
    ...     "window_weeks": 12, "note": None}])
    >>> summary_lines(t)[0]
    'base opened (8 actions, 21 localities, 60 comparison localities): reported attacks on civilians -25% \
(90% interval -41% to -6%) in the 12 weeks after, against comparable places.'
    """
    out = []
    for _row, r in table[table["scope"] == "pooled"].iterrows():
        acts = (_("{n} action") if r["n_actions"] == 1 else _("{n} actions")).format(n=int(r["n_actions"]))
        head = f"{r['kind']} {r['change']} (" + _("{actions}, {n} localities, {m} comparison localities").format(
            actions=acts, n=int(r["n_localities"]), m=int(r["n_comparison"])) + ")"
        if not np.isfinite(r["effect"]):
            out.append(head + _(": no estimate ({why}).").format(why=r["note"]))
            continue
        ci = (" (" + _("{level} interval {low} to {high}").format(
            level=percent(level * 100), low=signed_percent(r["ci_low"]), high=signed_percent(r["ci_high"])) + ")"
              if np.isfinite(r["ci_low"]) else " " + _("(no interval: too few attacks)"))
        out.append(head + _(": reported attacks on civilians {effect}{ci} in the {weeks} weeks after, "
                            "against comparable places.").format(effect=signed_percent(r["effect"]), ci=ci,
                                                                 weeks=int(r["window_weeks"])))
    return out


def caveat() -> str:
    """The text that must stand next to any impact figure: what the estimate cannot show (:data:`CAVEAT`)."""
    return _(CAVEAT)
