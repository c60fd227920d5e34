"""Locality x as-of-date panel: features known at each date, and the targets.

Pipeline-facing entry point::

    build_panel(incidents, localities, *, unit, horizon_weeks=4, step="weekly",
                target=TargetConfig(), displacement=None, bases=None,
                end=None, start=None, neighbours=None, rows=None,
                rows_from=None, horizons=None) -> pd.DataFrame

returns one row per (locality, as-of date) with columns ``locality_id``,
``as_of``, the feature columns (float32) and, last, the targets: ``y``
(float: 1/0, NaN when the target window is not yet closed) and ``y_count``
for the primary horizon ``horizon_weeks``, and ``y_{h}w`` / ``y_count_{h}w``
for every horizon ``h`` in ``horizons`` and the primary one. Rows are
ordered by ``as_of`` then by the order of ``localities``. The latest as-of
date is ``end`` (default: the last ``date_end`` in the incidents), so the
pipeline can score "now".

One panel serves several horizons: :func:`with_target` gives the same rows
with ``y`` / ``y_count`` of another horizon (without copying the features),
:func:`panel_horizons` lists the horizons a panel has, and
:func:`target_columns` / :func:`feature_columns` tell targets from features.

Time
----
Weeks are anchored on the data end: as-of dates are ``end, end - 7d, ...``
and week ``k`` covers the days ``(t_k - 7d, t_k]``. An incident is dated by
its ``date_end`` - the day from which it is *known* (GED events with low date
precision only become known at ``date_end``). Hence the two rules that keep
the panel free of leakage:

* features at ``t`` use only incidents with ``date_end <= t``;
* ``y_{h}w`` at ``t`` is 1 when some target incident has ``date_end`` in
  ``(t, t + h weeks]``, NaN when ``t + h`` is after the data end;
  ``y_count_{h}w`` is the number of such incidents (a training target, not a
  feature: :func:`feature_columns` leaves every target out). ``y`` and
  ``y_count`` are those of the primary horizon.

``step="monthly"`` keeps the last weekly as-of date of each calendar month
(the horizons stay in weeks).

Features (all names say what they mean, which :func:`describe` relies on)
------------------------------------------------------------------------
Per *channel* (``any``, ``clash``, ``vac``, ``remote``, ``abduct_sv``,
``aid_access``, ``unrest``, ``state``, ``nonstate``, ``onesided``,
``target``, ``civdeath``, ``actor_risk``) a dense locality x week array is
built once with ``np.bincount``; windows are differences of cumulative sums
and decays a first-order recursive filter (``scipy.signal.lfilter``) along
weeks - no per-locality loops:

* ``{ch}_count_{w}w`` / ``{ch}_fatalities_{w}w`` - events / deaths in the last
  w weeks (counts: w in 1, 4, 12, 26, 52 and every horizon, so the features
  do not depend on which horizon is primary; deaths: 4, 12, 52);
  ``civilian_deaths_{w}w``;
* ``{ch}_count_decay_{hl}w`` - exponentially decayed event count, half-life hl;
* ``{ch}_weeks_{w}w`` - weeks with at least one event among the last w;
* ``{ch}_trend_4w`` - last 4 weeks minus the average 4 weeks of the 12 before;
* ``weeks_since_{ch}`` - weeks since the last event (capped at 104);
* ``target_weeks_share_history`` - share of all past weeks with a target event;
* ``nbr_*`` / ``nbr2_*`` - the same counts summed over first-ring / second-ring
  neighbours (queen contiguity; see :func:`earlywarn.geo.localities.neighbours`);
  ``nbr_{ch}_share_4w`` - share of first-ring neighbours with such events;
* ``region_*`` / ``area_*`` - counts within 150 km (``REGION_KM``) / across
  the whole mission area (every known incident, also outside the localities);
* ``idp_level``, ``idp_change_pct``, ``weeks_since_idp_round`` - last known
  DTM round (joined by ``admin2_pcode`` = locality id, or by site point);
* ``population``; ``km_to_nearest_base``, ``inside_patrol_radius``;
* ``woy_sin``, ``woy_cos`` - seasonality (week of year).

Optional families (``covariates=``; :func:`earlywarn.columns.covariate_family`
names each column's family, and the model reads only those its
``model.covariates`` lists): ``season`` (the two above), ``tempo`` (the
``area_*`` columns: the country's tempo), ``acled_types`` (``riot``,
``protest``, ``strategic`` counted here, next door and mission-wide) and
``structural`` (population of listed places here and within 50 km, km to the
capital, a border, a town of 20,000+ and a river;
:mod:`earlywarn.features.structural`).

``actor_risk`` weights each event by the share of its actors' *earlier*
events (weeks before this one, anywhere) that were target events, so it
measures "activity by armed actors with a record of harming civilians".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy import sparse
from scipy.signal import lfilter
from scipy.spatial import cKDTree

from earlywarn import columns, i18n
from earlywarn.columns import TARGET_COL, TARGET_COUNT_COL
from earlywarn.config import TargetConfig
from earlywarn.geo.localities import assign_incidents, utm_crs_for
from earlywarn.geo.localities import neighbours as spatial_neighbours
from earlywarn.i18n import N_, _
from earlywarn.numbers import not_available

ID_COLS = ("locality_id", "as_of")
WINDOWS = (1, 4, 12, 26, 52)
FATALITY_WINDOWS = (4, 12, 52)
HALF_LIVES = (2, 8, 26)
WEEKS_SINCE_CAP = 104

# channel -> plain-words noun used in explanations (plural; CHANNEL_SINGULAR for a count of 1)
CHANNELS: dict[str, str] = {
    "any": N_("incidents of any kind"),
    "clash": N_("armed clashes"),
    "vac": N_("attacks on civilians"),
    "remote": N_("shelling, air-strike or IED incidents"),
    "abduct_sv": N_("abductions or sexual-violence incidents"),
    "aid_access": N_("attacks on aid workers or access denials"),
    "unrest": N_("riots or protests"),
    "state": N_("state-based violence events"),
    "nonstate": N_("non-state armed clashes"),
    "onesided": N_("one-sided attacks on civilians"),
    "target": N_("incidents harming civilians"),
    "civdeath": N_("incidents with civilian deaths"),
    "actor_risk": N_("incidents by armed actors with a record of harming civilians"),
    "riot": N_("riots"),
    "protest": N_("protests"),
    "strategic": N_("strategic developments (arrests, troop movements, territory changes)"),
}
CHANNEL_SINGULAR: dict[str, str] = {
    "any": N_("incident of any kind"),
    "clash": N_("armed clash"),
    "vac": N_("attack on civilians"),
    "remote": N_("shelling, air-strike or IED incident"),
    "abduct_sv": N_("abduction or sexual-violence incident"),
    "aid_access": N_("attack on aid workers or access denial"),
    "unrest": N_("riot or protest"),
    "state": N_("state-based violence event"),
    "nonstate": N_("non-state armed clash"),
    "onesided": N_("one-sided attack on civilians"),
    "target": N_("incident harming civilians"),
    "civdeath": N_("incident with civilian deaths"),
    "actor_risk": N_("incident by armed actors with a record of harming civilians"),
    "riot": N_("riot"),
    "protest": N_("protest"),
    "strategic": N_("strategic development (arrest, troop movement, territory change)"),
}
# channels that also get fatality features, and those that get neighbour lags
FATALITY_CHANNELS = ("any", "clash", "vac", "remote", "state", "nonstate", "target")
NEIGHBOUR_CHANNELS = ("any", "clash", "vac", "remote", "target", "civdeath", "actor_risk")
NEIGHBOUR_WINDOWS = (1, 4, 12, 52)
NEIGHBOUR_HALF_LIVES = (2, 8)
RECENCY_CHANNELS = ("any", "target", "vac", "clash", "remote", "civdeath")
WEEKS_CHANNELS = ("any", "target", "clash", "remote")
REGION_KM = 150.0
# own and first-ring neighbour lags of the spatial-lag logistic (a baseline, and a member of the model)
SPATIAL_LAG_FEATURES = (
    "target_count_4w",
    "target_count_12w",
    "target_count_52w",
    "any_count_4w",
    "nbr_target_count_4w",
    "nbr_target_count_12w",
    "nbr_any_count_4w",
)
SCOPES = {  # translated where a driver is written (describe): drivers are sentences in the run's language
    "": N_("here"),
    "nbr_": N_("in neighbouring areas"),
    "nbr2_": N_("two areas away"),
    "region_": N_("in the surrounding area (within {km} km)"),
    "area_": N_("across the whole mission area"),
}


# ----------------------------------------------------------------------------- helpers
def target_mask(incidents: pd.DataFrame, target: TargetConfig | None = None) -> np.ndarray:
    """Boolean mask of target incidents ("civilians attacked") per the mission's TargetConfig."""
    target = target or TargetConfig()
    kind = incidents["kind"].astype("string")
    m = np.array(kind.isin(list(target.kinds)).fillna(False).to_numpy(bool), copy=True)
    if target.include_civilian_targeting and "civilian_targeting" in incidents:
        m = m | incidents["civilian_targeting"].fillna(False).to_numpy(bool)
    if target.include_civilian_deaths and "civilian_deaths" in incidents:
        m = m | (incidents["civilian_deaths"].to_numpy("float64", na_value=np.nan) > 0)
    return m


def _window(cum: np.ndarray, w: int) -> np.ndarray:
    """Sum over the last ``w`` weeks (inclusive) from an inclusive cumulative sum along axis 1."""
    out = cum.copy()
    out[:, w:] -= cum[:, :-w]
    return out


def _decay(x: np.ndarray, half_life: float) -> np.ndarray:
    a = 0.5 ** (1.0 / half_life)
    return lfilter([1.0], [1.0, -a], x, axis=1)


def _weeks_since(x: np.ndarray) -> np.ndarray:
    k = np.arange(x.shape[1])
    last = np.where(x > 0, k[None, :], -1)
    last = np.maximum.accumulate(last, axis=1)
    return np.where(last >= 0, np.minimum(k[None, :] - last, WEEKS_SINCE_CAP), WEEKS_SINCE_CAP).astype(float)


def _ffill(values: np.ndarray) -> np.ndarray:
    """Forward-fill NaN along axis 1 (vectorised)."""
    k = np.arange(values.shape[1])
    idx = np.where(~np.isnan(values), k[None, :], 0)
    idx = np.maximum.accumulate(idx, axis=1)
    return np.take_along_axis(values, idx, axis=1)


def _as_day(s: pd.Series) -> np.ndarray:
    return pd.to_datetime(s).to_numpy("datetime64[D]")


def _within_km(localities: gpd.GeoDataFrame, km: float) -> sparse.csr_matrix:
    """Binary weights: other localities whose representative points are within ``km`` (local UTM)."""
    n = len(localities)
    if n < 2:
        return sparse.csr_matrix((n, n))
    pts = localities.geometry.representative_point().to_crs(utm_crs_for(localities))
    tree = cKDTree(np.c_[pts.x.to_numpy(), pts.y.to_numpy()])
    pairs = tree.query_pairs(km * 1000.0, output_type="ndarray")
    i = np.r_[pairs[:, 0], pairs[:, 1]]
    j = np.r_[pairs[:, 1], pairs[:, 0]]
    return sparse.csr_matrix((np.ones(len(i)), (i, j)), shape=(n, n))


def _ring2(w1: sparse.csr_matrix) -> sparse.csr_matrix:
    b = w1.copy().astype(float)
    b.data[:] = 1.0
    two = (b @ b).tolil()
    two.setdiag(0)
    two = two.tocsr()
    two.data[:] = 1.0
    out = two - two.multiply(b)
    out.eliminate_zeros()
    out.data[:] = 1.0
    return out.tocsr()


# ----------------------------------------------------------------------------- panel
def build_panel(
    incidents: pd.DataFrame,
    localities: gpd.GeoDataFrame,
    *,
    unit: str,
    horizon_weeks: int = 4,
    step: str = "weekly",
    target: TargetConfig | None = None,
    displacement: pd.DataFrame | None = None,
    bases: pd.DataFrame | None = None,
    end=None,
    start=None,
    neighbours: sparse.spmatrix | tuple | None = None,
    rows=None,
    rows_from=None,
    horizons: Sequence[int] | None = None,
    covariates: Sequence[str] = (),
) -> pd.DataFrame:
    """Locality x as-of panel of features known at each as-of date, plus the target ``y``.

    This is the table the threat model learns from and scores: one row per
    locality and as-of date (weekly or monthly), features computed only from
    incidents *known* on that date (``date_end`` on or before it) so a
    backtest never sees the future, and ``y`` = 1 when a target incident
    (:func:`target_mask`) happens in the locality within the next
    ``horizon_weeks``. ``y`` is NaN where that future is not yet observed
    (the last ``horizon_weeks`` of data): those are the rows a live run scores.

    Parameters
    ----------
    incidents : pandas.DataFrame
        Canonical incidents with a ``locality_id`` column
        (:func:`earlywarn.geo.localities.assign_incidents`).
    localities : geopandas.GeoDataFrame
        One row per locality with ``locality_id`` and geometry; row order is
        the order of ``neighbours``.
    unit : str
        Locality unit (``"admin"``, ``"priogrid"``, ``"km"``): how neighbours
        are found by default.
    horizon_weeks : int
        Primary forecast horizon: ``y``/``y_count``, the row selector and
        ``attrs["horizon_weeks"]`` are about it.
    step : {"weekly", "monthly"}
        Spacing of the as-of dates.
    target : TargetConfig, optional
        Which incidents count as the event to forecast (default: civilian targeting).
    displacement, bases : pandas.DataFrame, optional
        Canonical displacement and the mission's bases, for displacement and
        distance-to-base features.
    end, start : date-like, optional
        Bound the as-of dates (``end`` also bounds the data: later incidents are ignored).
    neighbours : sparse matrix or (ring1, ring2), optional
        Ring-1 weights (binary) in ``localities`` order, or a (ring1, ring2)
        pair; by default computed with :func:`earlywarn.geo.localities.neighbours`.
    rows : callable, optional
        Row selector for training panels too large to hold whole, e.g.
        :func:`sample_rows`. It is called with ``y`` of every output row (in
        output order) and returns ``(indices, weights)``: the rows to
        materialise (increasing) and ``{"1": w_pos, "0": w_neg}``, the weight
        each kept row stands for, stored in ``panel.attrs["row_weights"]`` (the
        model's calibration uses them to give the full panel's probabilities).
        Features are computed on the whole locality x week grid first, so a
        kept row has exactly the values it has in the full panel.
    rows_from : date-like, optional
        Build rows only for as-of dates on or after it (unlike ``start``, it
        never extends the as-of range before the data). It does *not* bound
        the history: incidents before it still feed every look-back feature
        (52-week counts, weeks since the last event, decays, history shares),
        because the locality x week grid always spans all the data - a few MB
        per channel even for 30 years - while rows (the costly part: ~250
        float32 values each) are only built from ``rows_from`` on. Use it with
        :func:`earlywarn.model.window.panel_start` so that a long history
        costs no more memory than the rows training will use.
    covariates : sequence of str, optional
        Optional feature families to build on top of the core
        (:data:`earlywarn.columns.COVARIATE_FAMILIES`): ``structural``
        (from the shipped geography, :mod:`earlywarn.features.structural`) and
        ``acled_types`` (riots, protests, strategic developments as channels)
        are built only when listed, after every core column so the core's
        column order does not move; ``season`` and ``tempo`` are always built
        (they are cheap and older models read them). The model reads only the
        families its ``model.covariates`` setting lists.
    horizons : sequence of int, optional
        Extra forecast horizons (weeks) labelled on the same rows, so that one
        panel - one feature block, the costly part - serves a model per horizon
        (:func:`with_target`). Every horizon is also a look-back window of the
        counts, so the features are the same whichever horizon is primary.

    Returns
    -------
    pandas.DataFrame
        ``locality_id``, ``as_of``, the feature columns (:func:`feature_columns`),
        ``y``/``y_count`` and per-horizon targets; ``attrs`` records the
        horizon(s), step, unit, data end and incidents used.

    Examples
    --------
    Three localities in a row; two attacks on civilians and one clash:

    >>> import geopandas as gpd, pandas as pd, shapely
    >>> locs = gpd.GeoDataFrame({"locality_id": ["A", "B", "C"]},
    ...     geometry=[shapely.box(i, 0, i + 1, 1) for i in range(3)], crs="EPSG:4326")
    >>> days = pd.to_datetime(["2024-01-03", "2024-01-20", "2024-02-07"])
    >>> inc = pd.DataFrame({"event_id": ["e1", "e2", "e3"], "locality_id": ["A", "A", "C"],
    ...     "date_start": days, "date_end": days,
    ...     "kind": ["violence_against_civilians", "clash", "violence_against_civilians"],
    ...     "civilian_targeting": [True, False, True], "fatalities": [2.0, 1.0, 0.0],
    ...     "lon": [0.5, 0.5, 2.5], "lat": [0.5, 0.5, 0.5]})
    >>> panel = build_panel(inc, locs, unit="admin", horizon_weeks=4, end="2024-03-01")
    >>> len(panel), panel["as_of"].nunique(), panel.attrs["n_incidents_used"]
    (27, 9, 3)

    In C, ``y`` is 1 in the four weeks before the attack of 7 February, and the
    attack enters the features only once it is known; the last four weeks have
    no observed future yet:

    >>> c = panel[panel["locality_id"] == "C"]
    >>> [(d.strftime("%m-%d"), n, y) for d, n, y in zip(c["as_of"], c["any_count_4w"], c["y"])]
    [('01-05', 0.0, 0.0), ('01-12', 0.0, 1.0), ('01-19', 0.0, 1.0), ('01-26', 0.0, 1.0),
     ('02-02', 0.0, 1.0), ('02-09', 1.0, nan), ('02-16', 1.0, nan), ('02-23', 1.0, nan),
     ('03-01', 1.0, nan)]
    """
    if horizon_weeks < 1:
        raise ValueError("horizon_weeks must be >= 1")
    if step not in ("weekly", "monthly"):
        raise ValueError(f"step must be 'weekly' or 'monthly', got {step!r}")
    h = int(horizon_weeks)
    horizons = _horizon_list(h, horizons)
    unknown = set(covariates) - set(columns.COVARIATE_FAMILIES)
    if unknown:
        raise ValueError(f"unknown covariate families {sorted(unknown)}; known: {columns.COVARIATE_FAMILIES}")
    target = target or TargetConfig()
    n_loc = len(localities)
    loc_ids = localities["locality_id"].astype("string").reset_index(drop=True)

    known_on = _as_day(incidents["date_end"]) if len(incidents) else np.array([], dtype="datetime64[D]")
    weeks = _weeks(known_on, end=end, start=start, rows_from=rows_from, step=step)
    grid = _incident_grid(incidents, known_on, localities, loc_ids, unit, target, weeks,
                          acled_types="acled_types" in covariates)
    spatial = _spatial_weights(localities, unit, neighbours)
    targets = _targets(grid.counts["target"], horizons)
    chosen = _select_rows(weeks, n_loc, targets[h][0], rows)

    # every feature family writes straight into one float32 block, at the chosen rows only
    block = _FeatureBlock(chosen)
    put = block.put
    _channel_features(put, grid.counts, spatial, windows=sorted(set(WINDOWS) | set(horizons)))
    _fatality_features(put, grid, spatial)
    _spread_features(put, grid.counts, spatial)
    _region_and_area_features(put, grid, spatial, n_loc)
    _history_features(put, grid, weeks.n)
    for name, arr in _displacement_features(displacement, localities, unit, loc_ids, weeks.data_end, weeks.n).items():
        put(name, arr)
    _static_features(put, localities, bases, weeks.n)
    _season_features(put, weeks.as_of, n_loc)
    if "acled_types" in covariates:
        _acled_type_features(put, grid, spatial, n_loc)
    if "structural" in covariates:
        from earlywarn.features.structural import structural_covariates

        for name, values in structural_covariates(localities).items():
            put(str(name), np.repeat(values.to_numpy("float64")[:, None], weeks.n, axis=1))

    panel = _frame(block, chosen, loc_ids, weeks.as_of, targets, h)
    panel.attrs.update(
        {
            "horizon_weeks": h,
            "horizons": horizons,
            "step": step,
            "unit": unit,
            "data_end": str(weeks.data_end),
            "n_incidents_used": grid.n_used,
            "covariates": [c for c in columns.COVARIATE_FAMILIES if c in {"season", "tempo", *covariates}],
        }
    )
    if chosen.weights is not None:
        panel.attrs["row_weights"] = {str(k): float(v) for k, v in chosen.weights.items()}
    return panel


# ----------------------------------------------------------------------------- panel steps
def _horizon_list(primary: int, horizons: Sequence[int] | None) -> list[int]:
    """The primary horizon is always labelled, so ``y`` has its ``y_{h}w`` twin."""
    out = sorted({primary} | {int(x) for x in (horizons or ())})
    if out[0] < 1:
        raise ValueError(f"horizons must be >= 1 week, got {out}")
    return out


@dataclass(frozen=True)
class _Weeks:
    """The weekly as-of grid. Anchored on the data end so that the newest row is "now"."""

    data_end: np.datetime64
    as_of: np.ndarray  # datetime64[D], oldest first; week k covers the days (as_of[k] - 7d, as_of[k]]
    kept: np.ndarray  # indices of the weeks that become rows

    @property
    def n(self) -> int:
        return len(self.as_of)

    def index(self, day: np.ndarray) -> np.ndarray:
        """The week in which each day (<= data_end) falls."""
        return (self.n - 1 - ((self.data_end - day).astype(int) // 7)).astype("int64")


def _weeks(known_on: np.ndarray, *, end, start, rows_from, step: str) -> _Weeks:
    """The grid spans all the data (look-back features need it); rows only the as-of dates asked for."""
    if end is not None:
        data_end = np.datetime64(pd.Timestamp(end).date(), "D")
    elif len(known_on):
        data_end = known_on.max()
    else:
        raise ValueError("no incidents and no end date: cannot place the as-of dates")
    earliest = known_on.min() if len(known_on) else data_end
    if start is not None:
        earliest = min(earliest, np.datetime64(pd.Timestamp(start).date(), "D"))
    n_wk = int((data_end - earliest).astype(int) // 7) + 1
    as_of = data_end - 7 * np.arange(n_wk - 1, -1, -1).astype("timedelta64[D]")

    keep = np.ones(n_wk, bool)
    if start is not None:
        keep &= as_of >= np.datetime64(pd.Timestamp(start).date(), "D")
    if rows_from is not None:
        keep &= as_of >= np.datetime64(pd.Timestamp(rows_from).date(), "D")
    if step == "monthly":
        months = as_of.astype("datetime64[M]")
        keep &= np.r_[months[1:] != months[:-1], True]
    return _Weeks(data_end, as_of, np.flatnonzero(keep))


@dataclass(frozen=True)
class _IncidentGrid:
    """Incidents as dense locality x week arrays: every feature is a cheap array operation on these."""

    counts: dict[str, np.ndarray]  # channel -> events per locality and week
    fatalities: dict[str, np.ndarray]  # FATALITY_CHANNELS -> deaths per locality and week
    civilian_deaths: np.ndarray
    # mission-wide context, shape (1, weeks): every known incident, also those outside the localities
    area_any: np.ndarray
    area_target: np.ndarray
    # ACLED's non-lethal types (columns.ACLED_TYPE_CHANNELS): here, and mission-wide (1, weeks); apart from
    # ``counts`` so that the core channels' column order does not change when the family is off
    acled_types: dict[str, np.ndarray]
    area_acled_types: dict[str, np.ndarray]
    first_week: int  # week of the earliest incident placed in a locality (0 when none)
    n_used: int  # incidents placed in a locality and week


def _incident_grid(
    incidents: pd.DataFrame,
    known_on: np.ndarray,
    localities: gpd.GeoDataFrame,
    loc_ids: pd.Series,
    unit: str,
    target: TargetConfig,
    weeks: _Weeks,
    acled_types: bool = False,
) -> _IncidentGrid:
    """An incident counts from the week its ``date_end`` falls in: the day it becomes known (no leakage).

    ``acled_types``: also grid ACLED's riots, protests and strategic
    developments (only a model that reads that family needs them).
    """
    n_loc, n_wk = len(localities), weeks.n
    inc = incidents.reset_index(drop=True)
    known = known_on <= weeks.data_end
    lid = assign_incidents(inc, localities, unit)
    pos = pd.Index(loc_ids).get_indexer(lid.fillna("\x00"))
    ok = known & (pos >= 0)
    wk = weeks.index(known_on[ok])
    sub = inc.loc[ok].reset_index(drop=True)
    flat = pos[ok] * n_wk + wk

    def grid(weights=None) -> np.ndarray:
        w = None if weights is None else np.asarray(weights, dtype="float64")
        return np.bincount(flat, weights=w, minlength=n_loc * n_wk).reshape(n_loc, n_wk).astype("float64")

    fat = sub["fatalities"].to_numpy("float64", na_value=np.nan) if "fatalities" in sub else np.zeros(len(sub))
    fat = np.nan_to_num(fat, nan=0.0)
    civ = sub["civilian_deaths"].to_numpy("float64", na_value=np.nan) if "civilian_deaths" in sub else None
    civ = np.zeros(len(sub)) if civ is None else np.nan_to_num(civ, nan=0.0)
    is_target = target_mask(sub, target)
    masks = _channel_masks(sub, is_target, civ)
    counts = {ch: grid(m.astype(float)) for ch, m in masks.items()}
    counts["actor_risk"] = grid(_actor_risk(sub, is_target, wk, n_wk))

    wk_all = np.clip(weeks.index(known_on[known]), 0, n_wk - 1)
    tgt_all = target_mask(inc.loc[known], target)
    types = columns.ACLED_TYPE_CHANNELS if acled_types else ()
    kind_here = sub["kind"].astype("string").fillna("") if types else None
    kind_all = inc.loc[known, "kind"].astype("string").fillna("") if types else None
    return _IncidentGrid(
        counts=counts,
        fatalities={ch: grid(np.where(masks[ch], fat, 0.0)) for ch in FATALITY_CHANNELS},
        civilian_deaths=grid(civ),
        area_any=np.bincount(wk_all, weights=None, minlength=n_wk).astype(float)[None, :],
        area_target=np.bincount(wk_all, weights=tgt_all.astype(float), minlength=n_wk).astype(float)[None, :],
        acled_types={ch: grid((kind_here == ch).to_numpy(float)) for ch in types},
        area_acled_types={
            ch: np.bincount(wk_all, weights=(kind_all == ch).to_numpy(float), minlength=n_wk).astype(float)[None, :]
            for ch in types
        },
        first_week=int(wk.min()) if len(wk) else 0,
        n_used=int(ok.sum()),
    )


def _channel_masks(sub: pd.DataFrame, is_target: np.ndarray, civ: np.ndarray) -> dict[str, np.ndarray]:
    """Which incidents feed each channel; the dict order is the order of the channel columns."""
    kind = sub["kind"].astype("string").fillna("")
    vt = sub["violence_type"].astype("string").fillna("") if "violence_type" in sub else pd.Series("", index=sub.index)
    return {
        "any": np.ones(len(sub), bool),
        "clash": (kind == "clash").to_numpy(bool),
        "vac": (kind == "violence_against_civilians").to_numpy(bool),
        "remote": (kind == "remote_violence").to_numpy(bool),
        "abduct_sv": kind.isin(["abduction", "sexual_violence"]).to_numpy(bool),
        "aid_access": kind.isin(["aid_worker_attack", "access_denial"]).to_numpy(bool),
        "unrest": kind.isin(["riot", "protest"]).to_numpy(bool),
        "state": (vt == "state_based").to_numpy(bool),
        "nonstate": (vt == "non_state").to_numpy(bool),
        "onesided": (vt == "one_sided").to_numpy(bool),
        "target": is_target,
        "civdeath": civ > 0,
    }


@dataclass(frozen=True)
class _Spatial:
    """Locality x locality weights: violence spills over, so a locality's neighbours are features too."""

    ring1: sparse.csr_matrix  # queen-contiguous neighbours
    ring2: sparse.csr_matrix  # neighbours of neighbours, not ring 1
    region: sparse.csr_matrix  # other localities within REGION_KM


def _spatial_weights(localities: gpd.GeoDataFrame, unit: str, neighbours) -> _Spatial:
    """Rings may be passed in, so that a caller building many panels on one geography computes them once."""
    if neighbours is None:
        w1 = spatial_neighbours(localities, unit, rings=1)
        w2 = spatial_neighbours(localities, unit, rings=2)
    elif isinstance(neighbours, tuple):
        w1, w2 = (sparse.csr_matrix(m) for m in neighbours)
    else:
        w1 = sparse.csr_matrix(neighbours)
        w2 = _ring2(w1)
    return _Spatial(w1, w2, _within_km(localities, REGION_KM))


def _targets(target_counts: np.ndarray, horizons: list[int]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """h -> (y, y_count) on the grid, before any feature, so that a row selector can see the primary y.

    A window still open at the data end is NaN, never 0: "nothing yet" is not "nothing".
    """
    n_loc, n_wk = target_counts.shape
    tcum = np.cumsum(target_counts, axis=1)
    out = {}
    for h in horizons:
        ahead = np.full((n_loc, n_wk), np.nan)
        if n_wk > h:
            ahead[:, : n_wk - h] = tcum[:, h:] - tcum[:, : n_wk - h]
        out[h] = (np.where(np.isnan(ahead), np.nan, (ahead > 0).astype(float)), ahead.astype("float32"))
    return out


@dataclass(frozen=True)
class _Rows:
    """The grid cells that become panel rows, in output order.

    Without a selector the rows are week-major (every locality of each kept
    week) and are written without gathering indices; with one, each row
    carries its own (locality, week).
    """

    n_loc: int
    weeks: np.ndarray  # kept week indices
    loc: np.ndarray | None = None  # with a selector: each row's locality...
    wk: np.ndarray | None = None  # ...and week
    weights: dict | None = None  # the selector's class weights

    @property
    def n(self) -> int:
        return len(self.loc) if self.loc is not None else len(self.weeks) * self.n_loc

    def locality_index(self) -> np.ndarray:
        return self.loc if self.loc is not None else np.tile(np.arange(self.n_loc), len(self.weeks))

    def week_index(self) -> np.ndarray:
        return self.wk if self.wk is not None else np.repeat(self.weeks, self.n_loc)

    def take(self, arr: np.ndarray) -> np.ndarray:
        """A locality x week array's values at the rows."""
        if self.loc is not None:
            return arr[self.loc, self.wk]
        return arr[:, self.weeks].T.ravel()

    def write(self, dst: np.ndarray, arr: np.ndarray) -> None:
        """Like :meth:`take`, but into ``dst``, a row of the feature block, so the block is the only copy kept."""
        if self.loc is not None:
            dst[...] = arr[self.loc, self.wk]
        else:
            dst.reshape(len(self.weeks), self.n_loc)[...] = arr.T[self.weeks]


def _select_rows(weeks: _Weeks, n_loc: int, y: np.ndarray, selector) -> _Rows:
    """Rows are chosen before any feature is computed, so unselected rows never cost memory."""
    if selector is None:
        return _Rows(n_loc, weeks.kept)
    sel, weights = selector(y[:, weeks.kept].T.ravel())
    sel = np.asarray(sel, dtype="int64")
    return _Rows(n_loc, weeks.kept, loc=sel % n_loc, wk=weeks.kept[sel // n_loc], weights=weights)


class _FeatureBlock:
    """The panel's features, written one column at a time into a single float32 feature x row array.

    The array becomes the frame without a copy. Its capacity is reserved,
    not used: np.empty commits memory only for the rows written, so the panel
    is held once (a dict of columns handed to pandas was held twice while
    pandas consolidated it, and freed columns stayed resident in the heap).
    Columns appear in the order they are first put.
    """

    def __init__(self, rows: _Rows, capacity: int = 512):
        self.rows = rows
        self.block = np.empty((capacity, rows.n), dtype="float32")
        self.slots: dict[str, int] = {}

    def put(self, name: str, arr: np.ndarray) -> None:
        """Store the locality x week array ``arr`` as feature ``name`` (at the selected rows)."""
        j = self.slots.setdefault(name, len(self.slots))
        if j >= len(self.block):
            bigger = np.empty((2 * len(self.block), self.rows.n), dtype="float32")
            bigger[:j] = self.block[:j]
            self.block = bigger
        self.rows.write(self.block[j], arr)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.block[: len(self.slots)].T, columns=list(self.slots), copy=False)


Put = Callable[[str, np.ndarray], None]


def _windows_and_decays(put: Put, prefix: str, x: np.ndarray, windows, half_lives) -> None:
    """Sums over the last w weeks (sharp memory) and decayed sums (smooth memory) of one array."""
    cum = np.cumsum(x, axis=1)
    for w in windows:
        put(columns.windowed(prefix, w), _window(cum, w))
    for hl in half_lives:
        put(columns.windowed(f"{prefix}_decay", hl), _decay(x, hl))


def _channel_features(put: Put, counts: dict[str, np.ndarray], spatial: _Spatial, windows: list[int]) -> None:
    """Each channel's own, neighbour and activity features, channel after channel.

    One loop over the channels (not one per family) keeps the historic
    column order, which fits depend on: the model samples features by
    position (``max_features``).
    """
    for ch, x in counts.items():
        _count_features(put, ch, x, windows)
        if ch in NEIGHBOUR_CHANNELS:
            _neighbour_features(put, ch, x, spatial)
        _activity_features(put, ch, x)


def _count_features(put: Put, ch: str, x: np.ndarray, windows: list[int]) -> None:
    """Windows include every horizon: recent activity over the span being forecast is the natural base rate."""
    _windows_and_decays(put, f"{ch}_count", x, windows, HALF_LIVES)


def _neighbour_features(put: Put, ch: str, x: np.ndarray, spatial: _Spatial) -> None:
    """Violence next door is often next week's violence here; the second ring catches slower spread."""
    _windows_and_decays(put, f"nbr_{ch}_count", spatial.ring1 @ x, NEIGHBOUR_WINDOWS, NEIGHBOUR_HALF_LIVES)
    _windows_and_decays(put, f"nbr2_{ch}_count", spatial.ring2 @ x, NEIGHBOUR_WINDOWS, NEIGHBOUR_HALF_LIVES[:1])


def _activity_features(put: Put, ch: str, x: np.ndarray) -> None:
    """How recent, persistent and rising the activity is: counts alone cannot tell a flare-up from a steady state."""
    if ch in RECENCY_CHANNELS:
        put(columns.weeks_since(ch), _weeks_since(x))
    if ch in WEEKS_CHANNELS:
        cum_w = np.cumsum(x > 0, axis=1).astype(float)
        for w in (4, 12, 52):
            put(columns.windowed(f"{ch}_weeks", w), _window(cum_w, w))
    if ch in ("any", "target", "clash", "vac", "remote", "civdeath"):
        put(f"{ch}_trend_4w", _trend(np.cumsum(x, axis=1)))


def _trend(cum: np.ndarray) -> np.ndarray:
    """Last 4 weeks minus the average 4 weeks of the 12 before, from a cumulative sum."""
    last4, last16 = _window(cum, 4), _window(cum, 16)
    return last4 - (last16 - last4) / 3.0


def _fatality_features(put: Put, grid: _IncidentGrid, spatial: _Spatial) -> None:
    """Deaths measure severity, which event counts miss (one massacre vs many skirmishes)."""
    for ch, x in grid.fatalities.items():
        _windows_and_decays(put, f"{ch}_fatalities", x, FATALITY_WINDOWS, (8,))
    _windows_and_decays(put, "civilian_deaths", grid.civilian_deaths, FATALITY_WINDOWS, (8,))
    _windows_and_decays(put, "nbr_civilian_deaths", spatial.ring1 @ grid.civilian_deaths, (4, 12), ())
    _windows_and_decays(put, "nbr_target_fatalities", spatial.ring1 @ grid.fatalities["target"], (4, 12), ())


def _spread_features(put: Put, counts: dict[str, np.ndarray], spatial: _Spatial) -> None:
    """Share of first-ring neighbours with such events lately: a spreading front, not one busy neighbour."""
    deg = np.asarray(spatial.ring1.sum(axis=1), dtype=float).ravel()[:, None]
    for ch in ("target", "any"):
        active = (_window(np.cumsum(counts[ch], axis=1), 4) > 0).astype(float)
        put(f"nbr_{ch}_share_4w", np.divide(spatial.ring1 @ active, deg, out=np.zeros_like(active), where=deg > 0))


def _region_and_area_features(put: Put, grid: _IncidentGrid, spatial: _Spatial, n_loc: int) -> None:
    """The wider region (within REGION_KM) and the whole mission area set the tempo of the conflict."""
    for ch in ("any", "target", "civdeath", "clash"):
        _windows_and_decays(put, f"region_{ch}_count", spatial.region @ grid.counts[ch], (4, 12), (8,))
    for name, x in (("area_any_count", grid.area_any), ("area_target_count", grid.area_target)):
        cum = np.cumsum(x, axis=1)
        for w in (4, 12, 52):
            put(columns.windowed(name, w), np.repeat(_window(cum, w), n_loc, axis=0))
        put(f"{name.removesuffix('_count')}_trend_4w", np.repeat(_trend(cum), n_loc, axis=0))


def _acled_type_features(put: Put, grid: _IncidentGrid, spatial: _Spatial, n_loc: int) -> None:
    """Riots, protests and strategic developments (arrests, troop movements, territory changes) as channels.

    Where a feed has them (ACLED), they are the non-lethal side of a conflict:
    unrest before a crackdown, armed groups moving in before an attack. Counted
    like the core channels (here, neighbours, mission-wide), known from
    ``date_end`` on; a feed without them gives zeros, which the model drops as
    constant.
    """
    for ch, x in grid.acled_types.items():
        _windows_and_decays(put, f"{ch}_count", x, (4, 12, 52), (8,))
        put(columns.weeks_since(ch), _weeks_since(x))
        _windows_and_decays(put, f"nbr_{ch}_count", spatial.ring1 @ x, (4, 12), ())
        cum = np.cumsum(grid.area_acled_types[ch], axis=1)
        for w in (4, 12):
            put(columns.count(ch, w, "area_"), np.repeat(_window(cum, w), n_loc, axis=0))


def _history_features(put: Put, grid: _IncidentGrid, n_wk: int) -> None:
    """A locality's long-run propensity, counted from the first incident so the data's start is not "calm"."""
    tw = np.cumsum(grid.counts["target"] > 0, axis=1)
    n_past = np.maximum(np.arange(n_wk) - grid.first_week + 1, 1)[None, :]
    put("target_weeks_share_history", tw / n_past)


def _static_features(put: Put, localities: gpd.GeoDataFrame, bases: pd.DataFrame | None, n_wk: int) -> None:
    """Exposure (population) and protection (UN presence), constant over time."""
    n_loc = len(localities)
    pop = localities["population"].to_numpy("float64", na_value=np.nan) if "population" in localities else None
    put("population", np.repeat((np.full(n_loc, np.nan) if pop is None else pop)[:, None], n_wk, axis=1))
    km, inside = _base_distance(localities, bases)
    put("km_to_nearest_base", np.repeat(km[:, None], n_wk, axis=1))
    put("inside_patrol_radius", np.repeat(inside[:, None], n_wk, axis=1))


def _season_features(put: Put, as_of: np.ndarray, n_loc: int) -> None:
    """Fighting seasons (rains, harvests) recur by time of year; sin/cos keep week 52 next to week 1."""
    woy = (pd.DatetimeIndex(as_of).isocalendar().week.to_numpy("float64") - 1) / 52.0
    put("woy_sin", np.repeat(np.sin(2 * np.pi * woy)[None, :], n_loc, axis=0))
    put("woy_cos", np.repeat(np.cos(2 * np.pi * woy)[None, :], n_loc, axis=0))


def _frame(
    block: _FeatureBlock,
    rows: _Rows,
    loc_ids: pd.Series,
    as_of: np.ndarray,
    targets: dict[int, tuple[np.ndarray, np.ndarray]],
    primary: int,
) -> pd.DataFrame:
    """Ids first and targets last, around the feature block taken as it is (no copy)."""
    panel = block.frame()
    panel.insert(0, "as_of", as_of[rows.week_index()].astype("datetime64[s]"))
    panel.insert(0, "locality_id", pd.array(loc_ids.to_numpy()[rows.locality_index()], dtype="string"))
    panel[TARGET_COL] = rows.take(targets[primary][0])
    panel[TARGET_COUNT_COL] = rows.take(targets[primary][1])
    for h, (y, y_count) in targets.items():
        panel[columns.target(h)] = rows.take(y)
        panel[columns.target_count(h)] = rows.take(y_count)
    assert len(panel) == rows.n
    return panel


# ----------------------------------------------------------------------------- targets and samples
def target_columns(panel: pd.DataFrame) -> list[str]:
    """Every target column of a panel: what a model may learn from, never see as a feature."""
    return [c for c in panel.columns if columns.is_target(c)]


def panel_horizons(panel: pd.DataFrame) -> list[int]:
    """The horizons a panel is labelled for: those :func:`with_target` can switch to."""
    return sorted(h for c in panel.columns if (h := columns.target_horizon(c)) is not None)


def with_target(panel: pd.DataFrame, h: int) -> pd.DataFrame:
    """The same rows with ``y``/``y_count`` for horizon ``h``, so code written for ``y`` fits any horizon.

    Copy-on-write shares every other column with ``panel``: the feature
    block is not copied. A panel whose rows were sampled on its primary
    target (``attrs["row_weights"]``) cannot switch: its class weights are
    not those of another horizon's classes.
    """
    h = int(h)
    y_h, count_h = columns.target(h), columns.target_count(h)
    if y_h not in panel:
        raise ValueError(f"the panel has no {h}-week target; its horizons are {panel_horizons(panel)}")
    current = panel.attrs.get("horizon_weeks")
    if panel.attrs.get("row_weights") and current is not None and h != int(current):
        raise ValueError(
            f"the panel's rows were sampled on its {current}-week target and their weights hold only for it: "
            f"build the panel with horizon_weeks={h} to sample for the {h}-week target"
        )
    out = panel.assign(**{TARGET_COL: panel[y_h], TARGET_COUNT_COL: panel[count_h]})
    out.attrs = {**panel.attrs, "horizon_weeks": h}
    return out


def sample_rows(max_rows: int, seed: int = 0, positive_share: float = 0.5):
    """Row selector for :func:`build_panel`: at most ``max_rows`` labelled rows, with weights.

    Rows whose target window is open (``y`` NaN) are dropped. When the
    labelled rows fit the budget they are all kept (weights 1). Otherwise
    positives are kept up to ``positive_share`` of the budget and negatives
    fill the rest, each class sampled uniformly without replacement (seeded);
    a kept row's weight is the inverse of its class's sampling rate, so the
    weighted sample has the full panel's class totals and a model fitted
    with these weights estimates the full panel's probabilities (the usual
    correction for case-control / negative subsampling).
    """

    def select(y: np.ndarray) -> tuple[np.ndarray, dict[str, float]]:
        pos = np.flatnonzero(y == 1)
        neg = np.flatnonzero(y == 0)
        if len(pos) + len(neg) <= max_rows:
            return np.sort(np.r_[pos, neg]), {"1": 1.0, "0": 1.0}
        rng = np.random.default_rng(seed)
        k_pos = min(len(pos), int(max_rows * positive_share))
        k_neg = min(len(neg), max_rows - k_pos)
        k_pos = min(len(pos), max_rows - k_neg)
        kp = rng.choice(pos, k_pos, replace=False) if k_pos < len(pos) else pos
        kn = rng.choice(neg, k_neg, replace=False) if k_neg < len(neg) else neg
        w = {"1": len(pos) / max(k_pos, 1), "0": len(neg) / max(k_neg, 1)}
        return np.sort(np.r_[kp, kn]), w

    return select


def labelled_sample(panel: pd.DataFrame, max_rows: int, seed: int = 0) -> pd.DataFrame:
    """Every labelled row, or beyond ``max_rows`` a class-stratified sample carrying its weights.

    The already-built-panel counterpart of :func:`sample_rows`: for a very
    large mission, extra negatives add fit time, not skill. The sample keeps
    time order and records each class's weight in ``attrs["row_weights"]``,
    with which the model's calibrator restores the full panel's probabilities.
    """
    labelled = panel[panel[TARGET_COL].notna()]
    if len(labelled) <= max_rows:
        return panel
    idx, weights = sample_rows(max_rows, seed)(labelled[TARGET_COL].to_numpy())
    sample = labelled.iloc[idx]
    sample.attrs = {**panel.attrs, "row_weights": weights}
    return sample


def feature_columns(panel: pd.DataFrame) -> list[str]:
    """The feature columns of a panel: everything but the ids and the targets (of every horizon)."""
    targets = set(target_columns(panel))
    return [c for c in panel.columns if c not in ID_COLS and c not in targets]


def _actor_risk(sub: pd.DataFrame, is_target: np.ndarray, wk: np.ndarray, n_wk: int) -> np.ndarray:
    """Per event: the highest earlier target share among its actors (smoothed), else the global share.

    An actor's share at week k uses only its events in weeks < k, so an event
    never informs its own weight and nothing after the as-of date leaks in.
    Actor names are untrusted text: they are only factorised, never parsed.
    """
    n = len(sub)
    if n == 0:
        return np.zeros(0)
    cols = [c for c in ("actor1", "actor2") if c in sub]
    if not cols:
        return np.zeros(n)
    names = pd.concat([sub[c].astype("string") for c in cols], ignore_index=True)
    # civilians are the victims, not an actor with a "record"
    names = names.mask(names.str.contains("civilian", case=False, na=False))
    codes, uniq = pd.factorize(names)
    n_act = len(uniq)
    if n_act == 0:
        return np.zeros(n)
    ev_wk = np.tile(wk, len(cols))
    ev_t = np.tile(is_target.astype(float), len(cols))
    valid = codes >= 0
    flat = codes[valid] * n_wk + ev_wk[valid]
    tot = np.bincount(flat, minlength=n_act * n_wk).reshape(n_act, n_wk).cumsum(axis=1)
    tgt = np.bincount(flat, weights=ev_t[valid], minlength=n_act * n_wk).reshape(n_act, n_wk).cumsum(axis=1)
    # the prior (share of target events among all earlier events) also uses only earlier weeks
    g_n = np.cumsum(np.bincount(wk, minlength=n_wk))
    g_t = np.cumsum(np.bincount(wk, weights=is_target.astype(float), minlength=n_wk))
    alpha = 5.0
    prev = np.maximum(ev_wk - 1, 0)
    has_prev = ev_wk >= 1
    prior = np.where(has_prev, (g_t[prev] + 1.0) / (g_n[prev] + 2.0), 0.5)
    c = np.maximum(codes, 0)
    t_prev = np.where(has_prev, tgt[c, prev], 0.0)
    n_prev = np.where(has_prev, tot[c, prev], 0.0)
    share = (t_prev + alpha * prior) / (n_prev + alpha)
    share = np.where(valid, share, np.nan).reshape(len(cols), n)
    out = np.max(np.where(np.isnan(share), -1.0, share), axis=0)
    return np.where(out < 0, prior[:n], out)


def _displacement_features(
    displacement: pd.DataFrame | None,
    localities: gpd.GeoDataFrame,
    unit: str,
    loc_ids: pd.Series,
    data_end: np.datetime64,
    n_wk: int,
) -> dict[str, np.ndarray]:
    n_loc = len(loc_ids)
    nan = np.full((n_loc, n_wk), np.nan)
    empty = {"idp_level": nan, "idp_change_pct": nan, "weeks_since_idp_round": nan}
    if displacement is None or len(displacement) == 0:
        return empty
    d = displacement.reset_index(drop=True)
    ids = pd.Index(loc_ids)
    pos = np.full(len(d), -1)
    if "admin2_pcode" in d:
        pos = ids.get_indexer(d["admin2_pcode"].astype("string").fillna("\x00"))
    if "lon" in d and "lat" in d and (pos < 0).any():
        has_pt = (pos < 0) & d["lon"].notna().to_numpy() & d["lat"].notna().to_numpy()
        if has_pt.any():
            lid = assign_incidents(d.loc[has_pt, ["lon", "lat"]], localities, unit)
            pos[has_pt] = ids.get_indexer(lid.fillna("\x00"))
    day = _as_day(d["date"])
    ok = (pos >= 0) & (day <= data_end) & d["idp_individuals"].notna().to_numpy()
    if not ok.any():
        return empty
    first_day = data_end - 7 * (n_wk - 1)
    rec = pd.DataFrame(
        {
            "loc": pos[ok],
            "day": day[ok],
            "wk": np.clip(n_wk - 1 - (data_end - day[ok]).astype(int) // 7, 0, n_wk - 1),
            "idp": d.loc[ok, "idp_individuals"].to_numpy("float64"),
        }
    )
    rec.loc[rec["day"] < first_day, "wk"] = 0
    rounds = rec.groupby(["loc", "day"], as_index=False).agg(idp=("idp", "sum"), wk=("wk", "first"))
    rounds = rounds.sort_values(["loc", "day"])
    rounds["prev"] = rounds.groupby("loc")["idp"].shift(1)
    rounds = rounds.drop_duplicates(["loc", "wk"], keep="last")
    level, prev, seen = nan.copy(), nan.copy(), nan.copy()
    li, wi = rounds["loc"].to_numpy(), rounds["wk"].to_numpy()
    level[li, wi] = rounds["idp"].to_numpy()
    prev[li, wi] = rounds["prev"].to_numpy()
    seen[li, wi] = wi
    level, prev, seen = _ffill(level), _ffill(prev), _ffill(seen)
    # prev must belong to the same round as level: both filled from the same week
    with np.errstate(divide="ignore", invalid="ignore"):
        change = np.where(prev > 0, (level - prev) / prev * 100.0, np.nan)
    return {
        "idp_level": level,
        "idp_change_pct": change,
        "weeks_since_idp_round": np.arange(n_wk)[None, :] - seen,
    }


def _base_distance(localities: gpd.GeoDataFrame, bases: pd.DataFrame | None) -> tuple[np.ndarray, np.ndarray]:
    """km from each locality's representative point to the nearest base (local UTM metres)."""
    n = len(localities)
    if bases is None or len(bases) == 0 or n == 0:
        return np.full(n, np.nan), np.full(n, np.nan)
    crs = utm_crs_for(localities)
    pts = localities.geometry.representative_point().to_crs(crs)
    b = gpd.GeoSeries(gpd.points_from_xy(bases["lon"], bases["lat"]), crs="EPSG:4326").to_crs(crs)
    px, py = pts.x.to_numpy()[:, None], pts.y.to_numpy()[:, None]
    bx, by = b.x.to_numpy()[None, :], b.y.to_numpy()[None, :]
    dist_km = np.hypot(px - bx, py - by) / 1000.0
    radius = (
        bases["patrol_radius_km"].to_numpy("float64", na_value=np.nan)
        if "patrol_radius_km" in bases
        else np.full(len(bases), np.nan)
    )
    inside = (dist_km <= radius[None, :]).any(axis=1).astype(float)
    return dist_km.min(axis=1), inside


# ----------------------------------------------------------------------------- descriptions
def feature_group(name: str) -> str:
    """Group a feature with the others that carry the same information (for occlusion).

    ``vac_count_4w``, ``vac_count_decay_8w``, ``vac_weeks_12w``,
    ``vac_trend_4w`` and ``weeks_since_vac`` form one group ``vac_count``
    because replacing only one of them would leave the information in the
    others and understate its effect.
    """
    if name.startswith("weeks_since_") and name != "weeks_since_idp_round":
        return f"{name.removeprefix('weeks_since_')}_count"
    if name.startswith("idp_") or name == "weeks_since_idp_round":
        return "idp"
    if name in ("km_to_nearest_base", "inside_patrol_radius"):
        return "base"
    if name in columns.SEASON_FEATURES:
        return "season"
    if name in ("places_pop_here", "places_pop_50km"):
        return "places_population"
    if name == "target_weeks_share_history":
        return "target_history"
    if name.startswith("civilian_deaths"):
        return "civilian_deaths"
    if name.startswith("nbr_civilian_deaths"):
        return "nbr_civilian_deaths"
    m = columns.feature_parts(name)
    if m:
        stat = m["stat"]
        if stat in ("weeks", "trend"):
            stat = "count"
        return f"{m['scope']}{m['ch']}_{stat}"
    return name


def _n(v: float) -> str:
    return i18n.decimal(v, 0) if abs(v - round(v)) < 0.05 else i18n.decimal(v, 1)


def _counted(v: float, singular: str, plural: str) -> str:
    """``"1 armed clash"``, ``"2 armed clashes"``, ``"0.5 armed clashes"`` (singular only for exactly 1)."""
    n = _n(v)
    return f"{n} {singular if n == '1' else plural}"


def _weeks_ago(n: float) -> str:
    return (_("(the latest {n} week ago)") if _n(n) == "1" else _("(the latest {n} weeks ago)")).format(n=_n(n))


# structural distances (earlywarn.features.structural) -> what the km are measured to, for the drivers' texts
_DISTANCE_TEXT = {
    "km_to_capital": N_("from the capital"),
    "km_to_border": N_("from an international border"),
    "km_to_town_20k": N_("from the nearest town of 20,000 people or more"),
    "km_to_river": N_("from a large river"),
}


def _in_last(weeks: int) -> str:
    return _("in the last week") if weeks == 1 else _("in the last {n} weeks").format(n=weeks)


def _scope(scope: str) -> str:
    return _(SCOPES[scope]).format(km=f"{REGION_KM:.0f}")


def describe(group: str, values: dict[str, float], horizon_weeks: int = 4) -> str:
    """Plain-words text for a feature group from one row's values (name -> value).

    Uses only the row's own feature values, so the sentence is a fact about
    the data the model saw, e.g. "9 armed clashes in neighbouring areas in
    the last 4 weeks" or "1 civilian killed here in the last 12 weeks".
    Nouns agree with the number (1 clash, 2 clashes) and no internal channel
    code reaches the text.
    """

    def g(name: str) -> float:
        v = values.get(name, np.nan)
        return float(v) if v is not None else np.nan

    if group == "idp":
        lvl, chg = g("idp_level"), g("idp_change_pct")
        if np.isnan(lvl):
            return _("no displacement figures for this area")
        people = _counted(lvl, _("displaced person"), _("displaced people"))
        if np.isnan(chg):
            return _("{people} present at the last DTM round").format(people=people)
        text = (_("IDPs up {change} since the last DTM round ({people} present)") if chg >= 0 else
                _("IDPs down {change} since the last DTM round ({people} present)"))
        return text.format(change=i18n.percent(abs(chg)), people=people)
    if group == "base":
        km = g("km_to_nearest_base")
        if np.isnan(km):
            return _("no UN base position known")
        if g("inside_patrol_radius") == 1:
            return _("inside a UN base patrol radius (nearest base {km} km away)").format(
                km=i18n.decimal(km, grouping=False))
        return _("no UN base within {km} km").format(km=i18n.decimal(km, grouping=False))
    if group == "season":
        ang = np.arctan2(g("woy_sin"), g("woy_cos"))
        week = int(round((ang % (2 * np.pi)) / (2 * np.pi) * 52)) + 1
        return _("time of year (week {week})").format(week=week)
    if group == "places_population":
        here, near = g("places_pop_here"), g("places_pop_50km")
        if np.isnan(near):
            return _("no listed towns or villages known nearby")
        return _("about {n} people in listed towns and villages within 50 km ({here} in this area)").format(
            n=_n(near), here=_n(here) if not np.isnan(here) else not_available())
    if group in _DISTANCE_TEXT:
        km, to = g(group), _(_DISTANCE_TEXT[group])
        return (_("distance {to} not known").format(to=to) if np.isnan(km)
                else _("{km} km {to}").format(km=_n(round(km)), to=to))
    if group == "population":
        p = g("population")
        return _("population unknown") if np.isnan(p) else _("population about {n}").format(n=_n(p))
    if group == "target_history":
        share = g("target_weeks_share_history")
        return _("{share} of past weeks here had incidents harming civilians").format(share=_share(share))
    if group == "target_window_history":
        share = g("target_window_rate_shrunk")
        return _("incidents harming civilians here in about {share} of past {n}-week periods").format(
            share=_share(share), n=horizon_weeks)
    shared = columns.share_parts(group)
    if shared:
        (ch, w), share = shared, g(group)
        noun = _(CHANNELS.get(ch, N_("incidents")))
        if np.isnan(share) or share <= 0:
            return _("none of the neighbouring areas had {incidents} {when}").format(incidents=noun, when=_in_last(w))
        return _("{share} of neighbouring areas had {incidents} {when}").format(
            share=_share(share), incidents=noun, when=_in_last(w))
    m = columns.described_parts(group)
    if not m:
        return group.replace("_", " ")
    scope, rest, stat = m["scope"], m["rest"], m["stat"]
    where = _scope(scope)
    base = f"{scope}{rest}_{stat}"
    wins = [w for w in (horizon_weeks, 4, 12, 26, 52) if columns.windowed(base, w) in values]
    wins = list(dict.fromkeys(sorted(wins)))
    if not wins:
        return group.replace("_", " ")
    chosen = next((w for w in wins if g(columns.windowed(base, w)) > 0), None)
    plural = _(CHANNELS.get(rest, N_("incidents")))
    singular = _(CHANNEL_SINGULAR.get(rest, N_("incident")))
    if rest == "actor_risk" and stat == "count":
        singular, plural = _("risk-weighted {incident}").format(incident=singular), _(
            "risk-weighted {incidents}").format(incidents=plural)
    if stat == "deaths" or rest == "civilian":
        singular, plural = _("civilian killed"), _("civilians killed")
    elif stat == "fatalities":
        singular = _("person killed in {incidents}").format(incidents=plural)
        plural = _("people killed in {incidents}").format(incidents=plural)
    if chosen is None:
        return _("no {incidents} {where} {when}").format(incidents=plural, where=where, when=_in_last(wins[-1]))
    text = f"{_counted(g(columns.windowed(base, chosen)), singular, plural)} {where} {_in_last(chosen)}"
    if not scope and stat == "count":
        since = g(columns.weeks_since(rest))
        if not np.isnan(since) and since < WEEKS_SINCE_CAP:
            text += " " + (_("(the latest this week)") if since == 0 else _weeks_ago(since))
    return text


def _share(share: float) -> str:
    return i18n.percent(share * 100)


def target_view(panel: pd.DataFrame, h: int) -> pd.DataFrame:
    """The panel with ``y`` / ``y_count`` of horizon ``h``; a panel built for that horizon alone as it is."""
    if columns.target(h) in panel.columns:
        return with_target(panel, int(h))
    if int(panel.attrs.get("horizon_weeks", h)) == int(h):
        return panel
    raise ValueError(f"the panel has no {h}-week target (built for {panel.attrs.get('horizon_weeks')} weeks)")
