"""Render the scenario's true events and displacement as the files real sources publish.

Each builder returns a table of *strings*, already formatted the way the
source formats them (dates, 4-decimal coordinates, integer counts), so that
writing it is a plain, byte-stable CSV dump. Column sets and order follow
the shared data's FORMATS.md (../shared/data beside the clone): the ACLED export, the IOM DTM admin-level CSV as
distributed on HDX (with its HXL hashtag row), a DTM site list and a mission's
HXL-tagged incident log.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

from earlywarn.synth import conflict as C
from earlywarn.synth.geography import COUNTRY, ISO2, Geography, to_deg, to_km

ACLED_COLUMNS = (
    "event_id_cnty", "event_date", "year", "time_precision", "disorder_type", "event_type",
    "sub_event_type", "actor1", "assoc_actor_1", "inter1", "actor2", "assoc_actor_2", "inter2",
    "interaction", "civilian_targeting", "iso", "region", "country", "admin1", "admin2", "admin3",
    "location", "latitude", "longitude", "geo_precision", "source", "source_scale", "notes",
    "fatalities", "tags", "timestamp",
)  # fmt: skip
DTM_COLUMNS = (
    "id", "operation", "admin0Name", "admin0Pcode", "admin1Name", "admin1Pcode", "admin2Name",
    "admin2Pcode", "adminLevel", "numPresentIdpInd", "reportingDate", "yearReportingDate",
    "monthReportingDate", "roundNumber", "displacementReason", "numberMales", "numberFemales",
    "idpOriginAdmin1Name", "idpOriginAdmin1Pcode", "assessmentType", "operationStatus",
)  # fmt: skip
DTM_HXL = (
    "#meta+id", "#meta+operation", "#country+name", "#country+code", "#adm1+name", "#adm1+code",
    "#adm2+name", "#adm2+code", "#meta+admin+level", "#affected+idps+ind", "#date+reported",
    "#date+year", "#date+month", "#meta+round", "#cause+type", "#affected+idps+m", "#affected+idps+f",
    "#adm1+name+origin", "#adm1+code+origin", "#meta+assessment+type", "#status+operation",
)  # fmt: skip
SITE_COLUMNS = (
    "id", "operation", "admin0Name", "admin0Pcode", "admin1Name", "admin1Pcode", "admin2Name",
    "admin2Pcode", "siteId", "siteName", "siteType", "latitude", "longitude", "numPresentIdpHh",
    "numPresentIdpInd", "reportingDate", "roundNumber",
)  # fmt: skip
SITE_HXL = (
    "#meta+id", "#meta+operation", "#country+name", "#country+code", "#adm1+name", "#adm1+code",
    "#adm2+name", "#adm2+code", "#loc+id", "#loc+name", "#loc+type", "#geo+lat", "#geo+lon",
    "#affected+idps+hh", "#affected+idps+ind", "#date+reported", "#meta+round",
)  # fmt: skip
MISSION_COLUMNS = (
    "Incident ID", "Date", "Latitude", "Longitude", "Incident type", "Killed", "Admin2 code",
    "Location", "Description",
)  # fmt: skip
MISSION_HXL = (
    "#event+id", "#date", "#geo+lat", "#geo+lon", "#event+type", "#affected+killed", "#adm2+code",
    "#loc+name", "#description",
)  # fmt: skip
# the mission's own vocabulary -> canonical kind (written into mission.yaml as hxl_kinds)
MISSION_KINDS = {
    "Armed clash": "clash",
    "Attack on civilians": "violence_against_civilians",
    "Abduction": "abduction",
    "CRSV": "sexual_violence",
    "Attack on humanitarian": "aid_worker_attack",
    "Looting": "access_denial",
    "Movement restriction": "access_denial",
    "Shelling": "remote_violence",
    "Demonstration": "protest",
}
_MISSION_TYPE = {
    C.BATTLE: "Armed clash", C.VAC_ATTACK: "Attack on civilians", C.VAC_ABDUCTION: "Abduction",
    C.VAC_SEXUAL: "CRSV", C.AID_ATTACK: "Attack on humanitarian", C.LOOTING: "Looting",
    C.ACCESS: "Movement restriction", C.REMOTE: "Shelling", C.PROTEST: "Demonstration",
}  # fmt: skip
SOURCES = (
    ("Radio Kondoro", "Subnational"),
    ("Xandia Tribune", "National"),
    ("Voice of Lomari", "Subnational"),
    ("UNMIX Radio", "National"),
    ("Humanitarian Monitor Xandia", "Other"),
    ("Local partner", "Local partner-Other"),
)
ACLED_ISO = "900"  # user-assigned ISO 3166 numeric range: no real country
REGION = "Eastern Africa"


# -- helpers --------------------------------------------------------------------------------------


def fmt_coord(x: np.ndarray, decimals: int = 4) -> pd.Series:
    """Fixed-decimal coordinate text (never scientific notation, never locale-dependent)."""
    return pd.Series(np.round(np.asarray(x, dtype=float), decimals)).map(lambda v: f"{v:.{decimals}f}")


def _long_date(d: pd.Series, pad: bool = False) -> pd.Series:
    """``3 March 2024`` (notes) or ``03 March 2024`` (older ACLED exports)."""
    day = d.dt.day.astype(str)
    if pad:
        day = day.str.zfill(2)
    return day + " " + d.dt.month_name() + " " + d.dt.year.astype(str)


def _pick(choices: tuple[str, ...] | list[str], u: np.ndarray) -> np.ndarray:
    return np.asarray(choices, dtype=object)[np.clip((u * len(choices)).astype(int), 0, len(choices) - 1)]


def place_events(
    rng: np.random.Generator, geo: Geography, events: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray]:
    """Choose the reported settlement (index into ``geo.settlements``) of every event.

    Violence falls on villages as well as towns (weight ~ pop^0.5); protests and
    riots are urban (weight ~ pop). geo_precision 3 events are reported at the
    unit's largest place, as ACLED does for events known only to the county.
    Returns (settlement index, geo_precision).
    """
    st = geo.settlements
    unit = st["unit"].to_numpy()
    idx_main = st.groupby("unit")["pop"].idxmax().reindex(range(len(geo.admin2))).to_numpy()
    u_ev = events["unit"].to_numpy()
    urban = events["kind"].isin([C.PROTEST, C.RIOT]).to_numpy()
    out = np.empty(len(events), dtype=np.int64)
    for power, mask in ((0.5, ~urban), (1.0, urban)):
        w = st["pop"].to_numpy() ** power
        cum = pd.Series(w).groupby(unit).cumsum().to_numpy()
        tot = pd.Series(w).groupby(unit).transform("sum").to_numpy()
        cdf = unit + cum / tot  # unit u's segment lies in (u, u + 1]
        last = np.r_[unit[1:] != unit[:-1], True]
        cdf[last] = unit[last] + 1.0
        r = rng.random(int(mask.sum()))
        out[mask] = np.searchsorted(cdf, u_ev[mask] + r, side="right")
    prec = np.select([rng.random(len(events)) < 0.62, rng.random(len(events)) < 0.74], [1, 2], 3)
    out = np.where(prec == 3, idx_main[u_ev], out)
    return out, prec


# -- ACLED ----------------------------------------------------------------------------------------


def acled_table(
    rng: np.random.Generator, geo: Geography, ev: pd.DataFrame, end_date: np.datetime64, legacy_rows: int
) -> pd.DataFrame:
    """ACLED export rows (newest first) for the events ACLED recorded.

    ``ev`` has date, unit, kind, actor1, actor2, fatalities, u, settlement, geo_precision.
    """
    ev = ev.sort_values(["date", "unit", "kind", "settlement"], kind="stable").reset_index(drop=True)
    n = len(ev)
    k = ev["kind"].to_numpy()
    u = ev["u"].to_numpy()
    st = geo.settlements.iloc[ev["settlement"].to_numpy()].reset_index(drop=True)
    adm = geo.admin2.iloc[ev["unit"].to_numpy()].reset_index(drop=True)
    date = pd.Series(pd.to_datetime(ev["date"].to_numpy()))
    names = np.array([a[0] for a in C.ACTORS] + [""], dtype=object)  # index -1 -> ""
    inters = np.array([a[1] for a in C.ACTORS] + [""], dtype=object)
    a1, a2 = ev["actor1"].to_numpy(), ev["actor2"].to_numpy()
    territory = (k == C.BATTLE) & (u < 0.12)
    remote_sub = np.where(u < 0.6, 0, np.where((u < 0.92) | (a1 != 0), 1, 2))
    sub = np.select(
        [territory & (a1 == 0), territory, k == C.BATTLE, k == C.VAC_ATTACK, k == C.AID_ATTACK,
         k == C.VAC_ABDUCTION, k == C.VAC_SEXUAL, (k == C.REMOTE) & (remote_sub == 0),
         (k == C.REMOTE) & (remote_sub == 1), k == C.REMOTE, (k == C.PROTEST) & (u < 0.85), k == C.PROTEST,
         (k == C.RIOT) & (a2 >= 0), k == C.RIOT, k == C.LOOTING, k == C.ACCESS],
        ["Government regains territory", "Non-state actor overtakes territory", "Armed clash", "Attack",
         "Attack", "Abduction/forced disappearance", "Sexual violence", "Shelling/artillery/missile attack",
         "Remote explosive/landmine/IED", "Air/drone strike", "Peaceful protest", "Protest with intervention",
         "Mob violence", "Violent demonstration", "Looting/property destruction", "Other"],
        "Non-violent transfer of territory",
    )  # fmt: skip
    sub = np.where((k == C.STRATEGIC) & (u < 0.6), "Headquarters or base established", sub)
    etype = np.select(
        [k == C.BATTLE, np.isin(k, C.VAC_KINDS), k == C.REMOTE, k == C.PROTEST, k == C.RIOT],
        ["Battles", "Violence against civilians", "Explosions/Remote violence", "Protests", "Riots"],
        "Strategic developments",
    )
    disorder = np.select(
        [
            np.isin(k, (C.BATTLE, C.REMOTE) + C.VAC_KINDS),
            k == C.PROTEST,
            (k == C.RIOT) & (a2 >= 0),
            k == C.RIOT,
        ],
        ["Political violence", "Demonstrations", "Political violence; Demonstrations", "Demonstrations"],
        "Strategic developments",
    )
    civ_target = np.isin(k, C.VAC_KINDS) | ((k == C.REMOTE) & (a2 == C.CIVILIANS))
    inter1, inter2 = inters[a1], inters[a2]
    interaction = np.where(a2 >= 0, inter1 + "-" + inter2, inter1 + " only")
    fat = ev["fatalities"].to_numpy()

    # -- notes (free text as ACLED writes it) --
    A1 = pd.Series(names[a1])
    A2 = pd.Series(names[a2])
    LOC, ADM2, ADM1 = st["name"], adm["admin2Name"], adm["admin1Name"]
    D = _long_date(date)
    fats = pd.Series(
        np.where(fat == 0, "No fatalities reported.", np.where(fat == 1, "1 fatality reported.", ""))
    )
    fats = fats.where(fat <= 1, pd.Series(fat).astype(str) + " fatalities reported.")
    where = " in " + LOC + " (" + ADM2 + ", " + ADM1 + "). "
    near = " near " + LOC + " (" + ADM2 + "). "
    kidnapped = pd.Series(np.ceil(1 + 6 * u).astype(int)).astype(str)
    sub_s = pd.Series(sub)
    notes = pd.Series("", index=range(n), dtype=object)
    on = "On " + D + ", "
    civ_or = A2.where(a2 >= 0, "civilians")
    shelled = pd.Series(np.where(a2 == C.CIVILIANS, "a residential area", "positions of " + A2))
    # fmt: off
    cases = [
        (sub_s == "Armed clash", on + A1 + " clashed with " + A2 + where + fats),
        (sub_s.str.contains("territory") & (k == C.BATTLE),
         on + A1 + " took control of " + LOC + " (" + ADM2 + ") after fighting " + A2 + ". " + fats),
        (k == C.VAC_ATTACK,
         on + A1 + " attacked civilians" + where + "Homes were burnt and cattle looted. " + fats),
        (k == C.VAC_ABDUCTION,
         on + A1 + " abducted " + kidnapped + " civilians, including women and children," + near + fats),
        (k == C.VAC_SEXUAL,
         on + "a woman was reportedly sexually assaulted by " + A1 + " elements while collecting firewood"
         + near + fats),
        (k == C.AID_ATTACK,
         on + A1 + " ambushed a marked vehicle of an aid organisation" + near + "Staff were robbed. " + fats),
        (sub_s == "Shelling/artillery/missile attack", on + A1 + " shelled " + shelled + where + fats),
        (sub_s == "Remote explosive/landmine/IED",
         on + "a vehicle carrying " + civ_or + " struck a landmine attributed to " + A1 + near + fats),
        (sub_s == "Air/drone strike", on + A1 + " conducted an air strike on " + A2 + near + fats),
        (k == C.PROTEST,
         on + "residents protested" + where + "They demanded protection of civilians. [size=no report]"),
        (k == C.RIOT, on + "a mob of youths attacked traders" + where + "[size=no report] " + fats),
        (k == C.LOOTING,
         on + A1 + " looted a humanitarian convoy carrying food supplies" + near
         + "Property destruction reported."),
        (k == C.ACCESS,
         on + A1 + " stopped aid trucks" + near
         + "Humanitarian convoy denied access at checkpoint; assistance to displaced people delayed."),
        (sub_s == "Headquarters or base established", on + A1 + " established a new base" + near),
        (sub_s == "Non-violent transfer of territory",
         on + A1 + " moved into " + LOC + " (" + ADM2 + ") without resistance."),
    ]
    # fmt: on
    for mask, text in cases:
        m = np.asarray(mask, dtype=bool) & (notes == "").to_numpy()
        notes[m] = pd.Series(text)[m]
    notes = notes.str.strip()
    # planted text that downstream HTML/CSV must escape
    first_protest = np.flatnonzero(k == C.PROTEST)
    i_script = int(first_protest[0]) if len(first_protest) else 0
    notes[i_script] = (
        "On " + D[i_script] + ", protesters in " + LOC[i_script] + " carried a placard reading "
        "<script>alert(1)</script> copied from social media. [size=no report]"
    )
    first_vac = np.flatnonzero((k == C.VAC_ATTACK) & (np.arange(n) != i_script))
    i_quote = int(first_vac[0]) if len(first_vac) else min(1, n - 1)
    notes[i_quote] = (
        "On "
        + D[i_quote]
        + ", "
        + A1[i_quote]
        + " attacked civilians in "
        + LOC[i_quote]
        + '; a survivor said "they came at dawn & burned everything". '
        + fats[i_quote]
    ).strip()

    src_i = rng.integers(0, len(SOURCES), n)
    src2_i = np.where(rng.random(n) < 0.25, rng.integers(0, len(SOURCES), n), -1)
    src2_i = np.where(src2_i == src_i, -1, src2_i)
    s_names = np.array([s for s, _ in SOURCES], dtype=object)
    s_scales = np.array([s for _, s in SOURCES], dtype=object)
    source = np.where(src2_i >= 0, s_names[src_i] + "; " + s_names[np.maximum(src2_i, 0)], s_names[src_i])
    scale = np.where(
        (src2_i >= 0) & (s_scales[np.maximum(src2_i, 0)] != s_scales[src_i]),
        s_scales[src_i] + "-" + s_scales[np.maximum(src2_i, 0)],
        s_scales[src_i],
    )
    assoc2 = np.where(
        np.isin(k, (C.VAC_ATTACK, C.VAC_ABDUCTION)) & (u > 0.7),
        _pick(("Lomari Ethnic Group (Xandia)", "Kuany Ethnic Group (Xandia)"), (u - 0.7) / 0.3),
        "",
    )
    assoc1 = np.where((k == C.PROTEST) & (u < 0.2), "Students (Xandia)", "")
    tprec = np.select([rng.random(n) < 0.86, rng.random(n) < 0.75], ["1", "2"], "3")
    tags = np.where(np.isin(k, (C.PROTEST, C.RIOT)), "crowd size=no report", "")
    # upload time: a few days to weeks after the event, never after the export (end of end_date + 1 day)
    lag_s = (rng.gamma(1.5, 5.0, n) * 86400 + rng.integers(0, 86400, n)).astype(np.int64)
    day_s = date.to_numpy().astype("datetime64[s]").astype(np.int64)
    export_s = (end_date + np.timedelta64(2, "D")).astype("datetime64[s]").astype(np.int64) - 1
    timestamp = np.minimum(day_s + 86400 + lag_s, export_s)

    ids = "XMD" + pd.Series(np.arange(n) + 1001).astype(str)
    event_date = date.dt.strftime("%Y-%m-%d")
    if legacy_rows > 0:  # the oldest rows as an older export wrote them
        event_date.iloc[: min(legacy_rows, n)] = _long_date(date.iloc[: min(legacy_rows, n)], pad=True)
    out = pd.DataFrame(
        {
            "event_id_cnty": ids,
            "event_date": event_date,
            "year": date.dt.year.astype(str),
            "time_precision": tprec,
            "disorder_type": disorder,
            "event_type": etype,
            "sub_event_type": sub,
            "actor1": names[a1],
            "assoc_actor_1": assoc1,
            "inter1": inter1,
            "actor2": names[a2],
            "assoc_actor_2": assoc2,
            "inter2": inter2,
            "interaction": interaction,
            "civilian_targeting": np.where(civ_target, "Civilian targeting", ""),
            "iso": ACLED_ISO,
            "region": REGION,
            "country": COUNTRY,
            "admin1": adm["admin1Name"],
            "admin2": adm["admin2Name"],
            "admin3": "",
            "location": st["name"],
            "latitude": fmt_coord(st["lat"]),
            "longitude": fmt_coord(st["lon"]),
            "geo_precision": ev["geo_precision"].astype(str).to_numpy(),
            "source": source,
            "source_scale": scale,
            "notes": notes,
            "fatalities": pd.Series(fat).astype(str),
            "tags": tags,
            "timestamp": pd.Series(timestamp).astype(str),
        }
    )
    assert tuple(out.columns) == ACLED_COLUMNS
    return out.iloc[::-1].reset_index(drop=True)  # exports list the newest event first


# -- mission incident log (HXL) -------------------------------------------------------------------


def mission_table(rng: np.random.Generator, geo: Geography, ev: pd.DataFrame) -> pd.DataFrame:
    """A mission JOC's incident log: its own ids, vocabulary, GPS fixes and (noisier) death counts.

    ``ev`` has date, unit, kind, actor1, actor2, fatalities, settlement.
    """
    ev = ev.sort_values(["date", "unit", "kind", "settlement"], kind="stable").reset_index(drop=True)
    n = len(ev)
    st = geo.settlements.iloc[ev["settlement"].to_numpy()].reset_index(drop=True)
    adm = geo.admin2.iloc[ev["unit"].to_numpy()].reset_index(drop=True)
    k = ev["kind"].to_numpy()
    names = np.array([a[0] for a in C.ACTORS] + ["unknown armed men"], dtype=object)
    A1 = pd.Series(names[ev["actor1"].to_numpy()])
    A2 = pd.Series(names[ev["actor2"].to_numpy()])
    LOC = st["name"]
    # GPS fix of the patrol / informant: within ~3 km of the reported place
    jit = np.clip(rng.normal(0, 1.2, (n, 2)), -3, 3)
    x, y = to_km(st["lon"].to_numpy(), st["lat"].to_numpy())
    lon, lat = to_deg(x + jit[:, 0], y + jit[:, 1])
    inside = shapely.contains_xy(geo.outline, lon, lat)
    lon = np.where(inside, lon, st["lon"].to_numpy())
    lat = np.where(inside, lat, st["lat"].to_numpy())
    fat = ev["fatalities"].to_numpy()
    killed = np.where(fat > 0, np.maximum(fat + rng.integers(-1, 2, n), 0), 0)
    patrol = ev["mission_only_patrol"].to_numpy() if "mission_only_patrol" in ev else np.zeros(n, bool)
    cases = [
        (k == C.BATTLE, "Heavy gunfire reported between " + A1 + " and " + A2 + " near " + LOC + "."),
        (k == C.VAC_ATTACK,
         "Community leaders reported an attack on civilians in " + LOC + " by " + A1 + "."),
        (k == C.VAC_ABDUCTION,
         "Civilians reportedly abducted near " + LOC + "; perpetrators believed to be " + A1 + "."),
        (k == C.VAC_SEXUAL,
         "Protection team received a report of conflict-related sexual violence near " + LOC + "."),
        (k == C.AID_ATTACK, "NGO vehicle attacked near " + LOC + "; staff robbed & vehicle burnt."),
        (k == C.LOOTING, "Humanitarian supplies looted near " + LOC + "."),
        (patrol, "UNMIX patrol denied passage at checkpoint near " + LOC + " by " + A1 + "."),
        (k == C.ACCESS, "Humanitarian convoy denied access at checkpoint near " + LOC + "."),
        (k == C.REMOTE, "Shelling heard near " + LOC + "."),
        (k == C.PROTEST, "Peaceful demonstration in " + LOC + " demanding protection."),
    ]  # fmt: skip
    desc = pd.Series("", index=range(n), dtype=object)
    for mask, text in cases:
        m = np.asarray(mask, dtype=bool) & (desc == "").to_numpy()
        desc[m] = pd.Series(text)[m]
    date = pd.Series(pd.to_datetime(ev["date"].to_numpy()))
    year = date.dt.year
    seq = year.groupby(year).cumcount() + 1
    out = pd.DataFrame(
        {
            "Incident ID": "JOC-" + year.astype(str) + "-" + seq.astype(str).str.zfill(4),
            "Date": date.dt.strftime("%Y-%m-%d"),
            "Latitude": fmt_coord(lat, 5),
            "Longitude": fmt_coord(lon, 5),
            "Incident type": [_MISSION_TYPE[int(v)] for v in k],
            "Killed": pd.Series(killed).astype(str),
            "Admin2 code": adm["admin2Pcode"],
            "Location": LOC,
            "Description": desc,
        }
    )
    # one phoned-in report without a GPS fix: a reader must quarantine it, not guess
    if n > 10:
        i = n // 2
        out.loc[i, ["Latitude", "Longitude"]] = ""
        out.loc[i, "Description"] = out.loc[i, "Description"] + " Reported by phone; no coordinates."
    return out


# -- DTM ------------------------------------------------------------------------------------------


def dtm_tables(
    rng: np.random.Generator, geo: Geography, week_start: np.ndarray, idp: np.ndarray, end_date: np.datetime64
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Monthly DTM rounds per admin-2 (admin-level CSV) and the last round's IDP sites.

    Each round reports the true IDP stock with ~8 % estimation noise; ~4 % of
    areas are not assessed in a given round (access), and in the rainy months a
    few areas add a second row for flood displacement, as DTM files do when they
    break figures down by reason.
    """
    months = np.arange(
        week_start[0].astype("datetime64[M]") + 1, end_date.astype("datetime64[M]") + 1, dtype="datetime64[M]"
    )
    days = months.astype("datetime64[D]") + rng.integers(17, 24, len(months)).astype("timedelta64[D]")
    days = days[days <= end_date]
    adm = geo.admin2
    N = len(adm)
    rows = []
    for r, day in enumerate(days, start=1):
        t = int(np.searchsorted(week_start, day, side="right") - 1)
        assessed = rng.random(N) > 0.04
        ind = np.round(idp[t] * rng.lognormal(0, 0.08, N))
        m = int(str(day)[5:7])
        for i in np.flatnonzero(assessed):
            rows.append((i, day, r, "Conflict", ind[i]))
        if 7 <= m <= 10:
            flood = np.flatnonzero((rng.random(N) < 0.08) & assessed)
            for i, v in zip(flood, np.round(rng.lognormal(6.3, 0.8, len(flood))), strict=True):
                rows.append((i, day, r, "Natural disaster", v))
    df = pd.DataFrame(rows, columns=["unit", "day", "round", "reason", "ind"])
    a = adm.iloc[df["unit"].to_numpy()].reset_index(drop=True)
    day = pd.Series(pd.to_datetime(df["day"].to_numpy()))
    males = np.round(df["ind"].to_numpy() * rng.uniform(0.44, 0.5, len(df)))
    dtm = pd.DataFrame(
        {
            "id": pd.Series(np.arange(len(df)) + 1).astype(str),
            "operation": f"{COUNTRY} Mobility Tracking",
            "admin0Name": COUNTRY,
            "admin0Pcode": ISO2,
            "admin1Name": a["admin1Name"],
            "admin1Pcode": a["admin1Pcode"],
            "admin2Name": a["admin2Name"],
            "admin2Pcode": a["admin2Pcode"],
            "adminLevel": "2",
            "numPresentIdpInd": df["ind"].astype(int).astype(str),
            "reportingDate": day.dt.strftime("%Y-%m-%d"),
            "yearReportingDate": day.dt.year.astype(str),
            "monthReportingDate": day.dt.month.astype(str),
            "roundNumber": df["round"].astype(str),
            "displacementReason": df["reason"],
            "numberMales": pd.Series(males.astype(int)).astype(str),
            "numberFemales": pd.Series((df["ind"].to_numpy() - males).astype(int)).astype(str),
            "idpOriginAdmin1Name": a["admin1Name"],
            "idpOriginAdmin1Pcode": a["admin1Pcode"],
            "assessmentType": "BA",
            "operationStatus": "Active",
        }
    )
    assert tuple(dtm.columns) == DTM_COLUMNS

    # sites: the ~20 largest IDP concentrations at the last round, near their area's main place
    last_day, last_round = days[-1], len(days)
    t = int(np.searchsorted(week_start, last_day, side="right") - 1)
    top = np.argsort(-idp[t], kind="stable")[: min(14, N)]
    st = geo.settlements
    main = st.loc[st.groupby("unit")["pop"].idxmax()].set_index("unit")
    site_units = np.sort(np.concatenate([top, top[: min(6, len(top))]]))
    n_s = len(site_units)
    mp = main.loc[site_units]
    sx, sy = to_km(mp["lon"].to_numpy(), mp["lat"].to_numpy())
    slon, slat = to_deg(sx + rng.uniform(-2, 2, n_s), sy + rng.uniform(-2, 2, n_s))
    ok = shapely.intersects_xy(adm.geometry.to_numpy()[site_units], slon, slat)
    slon = np.where(ok, slon, mp["lon"].to_numpy())
    slat = np.where(ok, slat, mp["lat"].to_numpy())
    share = rng.uniform(0.08, 0.3, n_s)
    ind = np.round(idp[t][site_units] * share)
    hh = np.round(ind / rng.uniform(4.5, 6.5, n_s))
    dup = pd.Series(site_units).groupby(site_units).cumcount().to_numpy()
    kind = np.where(dup == 0, "Collective site", "Spontaneous site")
    a = adm.iloc[site_units].reset_index(drop=True)
    sites = pd.DataFrame(
        {
            "id": pd.Series(np.arange(n_s) + 1).astype(str),
            "operation": f"{COUNTRY} Site Assessment",
            "admin0Name": COUNTRY,
            "admin0Pcode": ISO2,
            "admin1Name": a["admin1Name"],
            "admin1Pcode": a["admin1Pcode"],
            "admin2Name": a["admin2Name"],
            "admin2Pcode": a["admin2Pcode"],
            "siteId": pd.Series([f"{ISO2}-S{i + 1:03d}" for i in range(n_s)]),
            "siteName": pd.Series(mp["name"].to_numpy() + np.where(dup == 0, " IDP site", " Extension")),
            "siteType": kind,
            "latitude": fmt_coord(slat),
            "longitude": fmt_coord(slon),
            "numPresentIdpHh": pd.Series(hh.astype(int)).astype(str),
            "numPresentIdpInd": pd.Series(ind.astype(int)).astype(str),
            "reportingDate": str(last_day),
            "roundNumber": str(last_round),
        }
    )
    assert tuple(sites.columns) == SITE_COLUMNS
    return dtm, sites


def to_csv_text(df: pd.DataFrame, hxl: tuple[str, ...] | None = None) -> str:
    """Byte-stable CSV text: '\\n' line ends, minimal quoting, optional HXL hashtag row under the header."""
    body = df.to_csv(index=False, lineterminator="\n")
    if hxl is None:
        return body
    header, rest = body.split("\n", 1)
    tags = pd.DataFrame([list(hxl)]).to_csv(index=False, header=False, lineterminator="\n")
    return header + "\n" + tags + rest
