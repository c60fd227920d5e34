"""UCDP Georeferenced Event Dataset (GED) CSV, releases 19.1 to 25.1, as published.

Mapping: type_of_violence 1/2/3 -> state_based / non_state / one_sided and
kind clash / clash / violence_against_civilians; date_prec and where_prec
keep GED's own 1..5 and 1..7 scales; an event counts as known only from
date_end, which matters for events with month-level dates.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from earlywarn.i18n import N_
from earlywarn.ingest.common import (
    Checker,
    IngestResult,
    blank,
    check_coords,
    check_count,
    check_dates,
    numeric,
    read_csv_cells,
    require_columns,
    text,
)
from earlywarn.ingest.incidents import finish, int_or

GED_19_1 = (
    "id,year,active_year,type_of_violence,conflict_new_id,conflict_name,dyad_new_id,dyad_name,side_a_new_id,"
    "side_a,side_b_new_id,gwnob,side_b,number_of_sources,source_article,source_office,source_date,"
    "source_headline,source_original,where_prec,where_coordinates,adm_1,adm_2,latitude,longitude,geom_wkt,"
    "priogrid_gid,country,country_id,region,event_clarity,date_prec,date_start,date_end,deaths_a,deaths_b,"
    "deaths_civilians,deaths_unknown,low,best,high"
).split(",")
GED_25_1 = (
    "id,relid,year,active_year,code_status,type_of_violence,conflict_dset_id,conflict_new_id,conflict_name,"
    "dyad_dset_id,dyad_new_id,dyad_name,side_a_dset_id,side_a_new_id,side_a,side_b_dset_id,side_b_new_id,"
    "side_b,number_of_sources,source_article,source_office,source_date,source_headline,source_original,"
    "where_prec,where_coordinates,where_description,adm_1,adm_2,latitude,longitude,geom_wkt,priogrid_gid,"
    "country,country_id,region,event_clarity,date_prec,date_start,date_end,deaths_a,deaths_b,"
    "deaths_civilians,deaths_unknown,best,high,low,gwnoa,gwnob"
).split(",")
KNOWN_HEADERS = {len(GED_19_1): GED_19_1, len(GED_25_1): GED_25_1}
REQUIRED = ["id", "type_of_violence", "latitude", "longitude", "date_start", "date_end", "best"]
VIOLENCE = {1: "state_based", 2: "non_state", 3: "one_sided"}
KIND = {1: "clash", 2: "clash", 3: "violence_against_civilians"}


def read_ged(path, *, source_name: str | None = None, area=None, today: date | None = None) -> IngestResult:
    r"""Read a UCDP GED CSV (any release 19.1-25.1, with or without header row) into canonical incidents.

    GED is the longest, best-documented record of lethal violence, so it is the
    default history the threat model learns from. Releases without a header row
    are recognised by their field count (``KNOWN_HEADERS``). An event is known
    only from ``date_end``: the panel never uses it for a week before that.

    Parameters
    ----------
    path : str or pathlib.Path
        The CSV as downloaded (plain, ``.gz`` or ``.zip``).
    source_name : str, optional
        ``source`` value and ``event_id`` prefix (default ``"ucdp-ged"``).
    area : shapely geometry or bbox tuple, optional
        Points outside it are quarantined.
    today : datetime.date, optional
        Later dates are quarantined as future dates.

    Returns
    -------
    IngestResult
        Canonical incidents and the quarantine.

    Examples
    --------
    >>> import os, tempfile
    >>> from datetime import date
    >>> path = os.path.join(tempfile.mkdtemp(), "ged.csv")
    >>> with open(path, "w") as f:
    ...     _ = f.write(
    ...         "id,type_of_violence,latitude,longitude,date_start,date_end,best,side_a\n"
    ...         "101,3,12.5,24.1,2024-03-01,2024-03-01,4,Militia X\n"
    ...         "102,9,12.7,24.3,2024-03-02,2024-03-02,0,Army\n"
    ...     )
    >>> res = read_ged(path, today=date(2024, 6, 1))
    >>> res.table[["event_id", "violence_type", "civilian_targeting", "actor1"]].values.tolist()
    [['ucdp-ged:101', 'one_sided', True, 'Militia X']]
    >>> res.quarantine[["source_row", "field", "value", "reason"]].values.tolist()
    [[3, 'type_of_violence', '9', 'unknown violence type']]
    """
    source = source_name or "ucdp-ged"
    raw = read_csv_cells(path, known_headers=KNOWN_HEADERS, header_hint="type_of_violence")
    require_columns(raw, REQUIRED)
    c = raw.cells
    chk = Checker(raw, source)
    tov = numeric(c["type_of_violence"])
    chk.flag(~tov.isin([1, 2, 3]).to_numpy(), "type_of_violence", c["type_of_violence"], N_("unknown violence type"))
    chk.flag(blank(c["id"]), "id", c["id"], N_("missing id"))
    ds = check_dates(chk, c, "date_start", today)
    de = check_dates(chk, c, "date_end", today)
    lon, lat = check_coords(chk, c, "longitude", "latitude", area)
    best = check_count(chk, c, "best", required=True)
    low = check_count(chk, c, "low") if "low" in c else best
    high = check_count(chk, c, "high") if "high" in c else best
    civ = check_count(chk, c, "deaths_civilians") if "deaths_civilians" in c else pd.Series(np.nan, index=c.index)
    tov_i = tov.fillna(0).astype(int)
    fields = {
        "_raw_id": c["id"].astype("string").str.strip().str.removesuffix(".0"),
        "date_start": ds,
        "date_end": de,
        "date_precision": int_or(numeric(c["date_prec"]) if "date_prec" in c else pd.Series(np.nan, index=c.index), 1),
        "lon": lon,
        "lat": lat,
        "geo_precision": int_or(numeric(c["where_prec"]) if "where_prec" in c else pd.Series(np.nan, index=c.index), 1),
        "kind": tov_i.map(KIND).astype("string"),
        "violence_type": tov_i.map(VIOLENCE).astype("string"),
        "civilian_targeting": (tov_i == 3),
        "fatalities": best,
        "fatalities_low": low,
        "fatalities_high": high,
        "civilian_deaths": civ,
        "actor1": text(c, "side_a"),
        "actor2": text(c, "side_b"),
        "admin1": text(c, "adm_1"),
        "admin2": text(c, "adm_2"),
        "location": text(c, "where_coordinates"),
        "notes": text(c, "source_headline"),
        "priogrid_gid": pd.to_numeric(numeric(c["priogrid_gid"]), errors="coerce").round().astype("Int64")
        if "priogrid_gid" in c
        else pd.Series(pd.NA, index=c.index, dtype="Int64"),
    }
    return finish(chk, fields, source, "id")
