"""The true conflict process of the demo scenario: a weekly self-exciting model per admin-2 unit.

See the package docstring (earlywarn/synth/__init__.py) for the equations in
prose. In short, for unit i and week t (all rates are expected events per
unit-week, multiplied by ``scale``):

    F_it      = 4 * p1 * p2, the top two armed groups' shares of influence at i (1 = an even frontline)
    s_t       = 1 - 0.45 * rain(t): the rainy season (peak mid-August) damps everything
    Hc, Hv    = exponentially decayed counts of past clashes / VAC (decay per week RHO_*)
    clash     = s_t * (B_C * F^1.5 + A_CC * (Hc_i + W_NB * sum_nb Hc_j))
    VAC       = s_t * (B_V * (0.1 + F) * popfac_i + A_VC * (Hk_i + W_NB_V * sum_nb Hk_j)
                       + A_VV * Hv_i + A_VI * log1p(IDP_i / 3000))
    IDP       = IDP * (1 - DELTA) + people displaced by last week's VAC and clashes (40 % stay,
                60 % move to neighbouring units)

where Hk is the clash history on a slower kernel (clashes raise VAC risk for
weeks). Counts are Poisson draws of these rates; nothing else about the future
is knowable, so the rates are the ceiling of any model's skill.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from earlywarn.synth.geography import Geography, to_km

# Event kinds of the true process (ACLED event/sub-event types are chosen from these in formats.py)
(
    BATTLE,
    VAC_ATTACK,
    VAC_ABDUCTION,
    VAC_SEXUAL,
    AID_ATTACK,
    REMOTE,
    PROTEST,
    RIOT,
    LOOTING,
    ACCESS,
    STRATEGIC,
) = range(11)
VAC_KINDS = (VAC_ATTACK, VAC_ABDUCTION, VAC_SEXUAL, AID_ATTACK)

# Actors: the armed groups first (their index is the group index), then fixed non-combatant actors.
GROUPS: tuple[tuple[str, str], ...] = (
    ("Military Forces of Xandia (2019-)", "State forces"),
    ("XPLA: Xandia People's Liberation Army", "Rebel group"),
    ("NDF: National Deliverance Front", "Rebel group"),
    ("Lomari Communal Militia (Xandia)", "Identity militia"),
)
UAG = len(GROUPS)
CIVILIANS, AID_WORKERS, PROTESTERS, RIOTERS = UAG + 1, UAG + 2, UAG + 3, UAG + 4
ACTORS: tuple[tuple[str, str], ...] = GROUPS + (
    ("Unidentified Armed Group (Xandia)", "Political militia"),
    ("Civilians (Xandia)", "Civilians"),
    ("Aid Workers (Xandia)", "Civilians"),
    ("Protesters (Xandia)", "Protesters"),
    ("Rioters (Xandia)", "Rioters"),
)
NO_ACTOR = -1

# Rates and kernels (per unit-week). Chosen so that the clash process is clearly sub-critical
# (branching ratio ~0.3) and VAC is sparse enough that "where next" is a real question.
B_C, A_CC, RHO_C, W_NB = 0.9, 0.07, 0.55, 0.12
B_V, A_VC, RHO_K, W_NB_V, A_VV, RHO_V, A_VI = 0.035, 0.14, 0.75, 0.05, 0.08, 0.5, 0.02
B_R, R_PER_C = 0.02, 0.25  # remote violence: frontline baseline + a share of the clash rate
B_P, B_RIOT = 0.012, 0.004  # protests / riots per unit-week at average population
B_LOOT, B_ACCESS, B_STRAT = 0.006, 0.012, 0.01
B_AID = 0.004
DELTA = 0.025  # weekly return/decay of the IDP stock (half-life ~6 months)
EPS_NOBODY = 0.12  # influence of "no armed group": keeps F low far from every zone


@dataclass
class Truth:
    """Weekly truth (T weeks x N units) plus the event list of the whole period."""

    week_start: np.ndarray  # (T,) datetime64[D]
    frontline: np.ndarray  # (T, N) F_it
    lam_vac: np.ndarray  # (T, N) expected VAC events (the oracle)
    n_vac: np.ndarray  # (T, N)
    n_clash: np.ndarray  # (T, N)
    idp: np.ndarray  # (T, N) IDP stock at the start of the week
    top2: np.ndarray  # (T, N, 2) indices of the two strongest groups
    events: pd.DataFrame  # date, week, unit, kind, actor1, actor2, fatalities


def _season(week_start: np.ndarray) -> np.ndarray:
    """1 in the dry season, ~0.55 at the height of the rains (mid-August)."""
    mid = week_start + np.timedelta64(3, "D")
    doy = (mid - mid.astype("datetime64[Y]")).astype(int)
    rain = 0.5 + 0.5 * np.cos(2 * np.pi * (doy - 225) / 365.25)
    return 1 - 0.45 * rain


def _zones(rng: np.random.Generator, geo: Geography, T: int) -> np.ndarray:
    """Influence shares (T, N, G) of each armed group, whose zones drift slowly."""
    G = len(GROUPS)
    cap = geo.towns.iloc[0]
    capx, capy = (float(v) for v in to_km(cap["lon"], cap["lat"]))
    t = np.arange(T)[:, None]
    cx = np.empty((T, G))
    cy = np.empty((T, G))
    radius = np.empty(G)
    strength = np.empty((T, G))
    base_angle = np.arctan2(-capy, -capx) + rng.uniform(-0.4, 0.4)  # rebels start away from the capital
    for g in range(G):
        if g == 0:  # state forces: around the capital, broad
            x0, y0, radius[g] = capx + rng.normal(0, 10), capy + rng.normal(0, 10), rng.uniform(80, 95)
        else:
            ang = base_angle + (g - 2) * rng.uniform(0.9, 1.3)
            rr = rng.uniform(70, 105)
            x0, y0, radius[g] = rr * np.cos(ang), rr * np.sin(ang), rng.uniform(50, 75)
        amp = rng.uniform(15, 35)
        p1, p2 = rng.uniform(90, 220, 2)
        f1, f2 = rng.uniform(0, 2 * np.pi, 2)
        drift = rng.uniform(0, 40) * np.array([-x0, -y0]) / (np.hypot(x0, y0) + 1e-9)
        cx[:, g] = x0 + amp * np.sin(2 * np.pi * t[:, 0] / p1 + f1) + drift[0] * t[:, 0] / T
        cy[:, g] = y0 + amp * np.sin(2 * np.pi * t[:, 0] / p2 + f2) + drift[1] * t[:, 0] / T
        p3, f3 = rng.uniform(60, 160), rng.uniform(0, 2 * np.pi)
        strength[:, g] = rng.uniform(0.85, 1.15) * (1 + 0.35 * np.sin(2 * np.pi * t[:, 0] / p3 + f3))
    d2 = (geo.cx[None, :, None] - cx[:, None, :]) ** 2 + (geo.cy[None, :, None] - cy[:, None, :]) ** 2
    infl = strength[:, None, :] * np.exp(-d2 / (2 * radius[None, None, :] ** 2))
    share = infl / (infl.sum(-1, keepdims=True) + EPS_NOBODY)
    return share


def simulate(
    rng: np.random.Generator, geo: Geography, week_start: np.ndarray, scale: float = 1.0, burn_in: int = 52
) -> Truth:
    """Run the weekly process over ``week_start`` (T,) and return the truth and the event list.

    The process starts ``burn_in`` weeks earlier so that histories and the IDP stock are near their
    steady state when the record begins (real data never starts from a peaceful, empty country).
    """
    T, N = len(week_start), len(geo.admin2)
    full_ws = week_start[0] + (np.arange(T + burn_in) - burn_in) * np.timedelta64(7, "D")
    share = _zones(rng, geo, T + burn_in)
    top2 = np.argsort(-share, axis=-1, kind="stable")[..., :2]
    p_sorted = np.take_along_axis(share, top2, axis=-1)
    frontline = (4 * p_sorted[..., 0] * p_sorted[..., 1]) ** 2  # squared: frontlines are narrow
    season = _season(full_ws)
    adj = geo.adjacency.astype(float)
    w_out = adj / np.maximum(adj.sum(1, keepdims=True), 1)  # where a unit's IDPs go
    popfac = np.sqrt(geo.pop / geo.pop.mean())
    popnorm = geo.pop / geo.pop.mean()

    hc, hk, hv = np.zeros(N), np.zeros(N), np.zeros(N)
    idp = geo.pop * rng.uniform(0.005, 0.04, N)
    kinds = 11
    counts = np.zeros((T + burn_in, N, kinds), dtype=np.int64)
    lam_vac = np.zeros((T + burn_in, N))
    idp_hist = np.zeros((T + burn_in, N))
    for t in range(T + burn_in):
        s, F = season[t], frontline[t]
        idp_hist[t] = idp
        idpf = np.log1p(idp / 3000.0)
        lam_c = s * (B_C * F**1.5 + A_CC * (hc + W_NB * adj @ hc))
        lam_v = s * (B_V * (0.1 + F) * popfac + A_VC * (hk + W_NB_V * adj @ hk) + A_VV * hv + A_VI * idpf)
        lam = np.zeros((N, kinds))
        lam[:, BATTLE] = lam_c
        lam[:, VAC_ATTACK] = 0.68 * lam_v
        lam[:, VAC_ABDUCTION] = 0.20 * lam_v
        lam[:, VAC_SEXUAL] = 0.12 * lam_v
        lam[:, AID_ATTACK] = s * B_AID * (idpf + hv)
        lam[:, REMOTE] = s * B_R * F + R_PER_C * lam_c
        lam[:, PROTEST] = B_P * popnorm * (1 + 0.5 * hv)
        lam[:, RIOT] = B_RIOT * popnorm * (1 + hv)
        lam[:, LOOTING] = s * (B_LOOT * (F + idpf / 4) + 0.02 * hc)
        lam[:, ACCESS] = s * (B_ACCESS * (F + idpf / 4) + 0.02 * hc)
        lam[:, STRATEGIC] = s * B_STRAT * F
        lam *= scale
        lam_vac[t] = lam[:, VAC_ATTACK] + lam[:, VAC_ABDUCTION] + lam[:, VAC_SEXUAL]
        n = rng.poisson(lam)
        counts[t] = n
        nc = n[:, BATTLE]
        nv = n[:, VAC_ATTACK] + n[:, VAC_ABDUCTION] + n[:, VAC_SEXUAL] + n[:, AID_ATTACK]
        hc = RHO_C * hc + nc
        hk = RHO_K * hk + nc
        hv = RHO_V * hv + nv
        displaced = (nv * 600 + nc * 250 + n[:, REMOTE] * 100) * rng.lognormal(0, 0.7, N)
        idp = idp * (1 - DELTA) + 0.4 * displaced + w_out.T @ (0.6 * displaced)

    rec = slice(burn_in, None)
    counts, top2 = counts[rec], top2[rec]
    events = _expand(rng, counts, week_start, top2)
    n_vac = counts[..., VAC_ATTACK] + counts[..., VAC_ABDUCTION] + counts[..., VAC_SEXUAL]
    return Truth(
        week_start, frontline[rec], lam_vac[rec], n_vac, counts[..., BATTLE], idp_hist[rec], top2, events
    )


def _fatalities(rng: np.random.Generator, kind: np.ndarray) -> np.ndarray:
    """Heavy-tailed deaths per event: many zeros, lognormal body, rare massacres."""
    n = len(kind)
    p_zero = np.select(
        [
            kind == BATTLE,
            kind == VAC_ATTACK,
            kind == REMOTE,
            np.isin(kind, (VAC_ABDUCTION, VAC_SEXUAL)),
            kind == AID_ATTACK,
            kind == RIOT,
        ],
        [0.3, 0.35, 0.5, 0.93, 0.7, 0.8],
        1.0,
    )
    mu = np.select([kind == BATTLE, kind == VAC_ATTACK, kind == REMOTE], [1.2, 0.5, 0.7], 0.0)
    sigma = np.select([kind == BATTLE, kind == VAC_ATTACK, kind == REMOTE], [1.0, 1.1, 1.0], 0.5)
    body = np.ceil(rng.lognormal(mu, sigma, n))
    zero = rng.random(n) < p_zero
    return np.where(zero, 0, np.minimum(body, 400)).astype(np.int64)


def _expand(
    rng: np.random.Generator, counts: np.ndarray, week_start: np.ndarray, top2: np.ndarray
) -> pd.DataFrame:
    """Turn (T, N, kind) counts into one row per event with a day, actors and fatalities."""
    t, i, k = np.nonzero(counts)
    rep = counts[t, i, k]
    t, i, k = np.repeat(t, rep), np.repeat(i, rep), np.repeat(k, rep)
    n = len(t)
    date = week_start[t] + rng.integers(0, 7, n).astype("timedelta64[D]")
    g1, g2 = top2[t, i, 0], top2[t, i, 1]
    swap = rng.random(n) < 0.5
    a_fight, b_fight = np.where(swap, g2, g1), np.where(swap, g1, g2)
    r = rng.random(n)
    perp = np.where(r < 0.55, g1, np.where(r < 0.8, g2, UAG))  # who attacks civilians / aid
    actor1 = np.select(
        [k == BATTLE, k == REMOTE, k == PROTEST, k == RIOT, k == STRATEGIC],
        [a_fight, a_fight, PROTESTERS, RIOTERS, g1],
        perp,
    )
    remote_civ = rng.random(n) < 0.25
    actor2 = np.select(
        [
            k == BATTLE,
            (k == REMOTE) & ~remote_civ,
            (k == REMOTE) & remote_civ,
            np.isin(k, (VAC_ATTACK, VAC_ABDUCTION, VAC_SEXUAL)),
            np.isin(k, (AID_ATTACK, ACCESS)),
            k == LOOTING,
            k == RIOT,
        ],
        [
            b_fight,
            b_fight,
            CIVILIANS,
            CIVILIANS,
            AID_WORKERS,
            np.where(r < 0.5, AID_WORKERS, CIVILIANS),
            np.where(r < 0.4, CIVILIANS, NO_ACTOR),
        ],
        NO_ACTOR,
    )
    return pd.DataFrame(
        {
            "date": date,
            "week": t,
            "unit": i,
            "kind": k,
            "actor1": actor1,
            "actor2": actor2,
            "fatalities": _fatalities(rng, k),
            "u": rng.random(n),  # a spare uniform per event for later choices (sub-types, precision)
        }
    )
