"""Data responsibility: what the published incident layer may carry, per redaction switch."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from earlywarn.config import RedactionConfig
from earlywarn.publish.redact import civilian_victim_mask, incidents_for_publication, snap_to_grid


@pytest.fixture()
def world():
    localities = gpd.GeoDataFrame(
        {"locality_id": ["A", "B"], "name": ["Alpha", "Bravo"]},
        geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1)],
        crs="EPSG:4326",
    )
    inc = pd.DataFrame(
        {
            "event_id": ["e1", "e2", "e3", "e4"],
            "date_start": pd.to_datetime(["2024-01-01"] * 4),
            "date_end": pd.to_datetime(["2024-01-01"] * 4),
            "lon": [0.123456, 0.51, 1.77, 1.2],
            "lat": [0.654321, 0.52, 0.33, 0.9],
            "kind": ["violence_against_civilians", "clash", "clash", "riot"],
            "civilian_targeting": [True, False, False, False],
            "civilian_deaths": [2.0, np.nan, 1.0, 0.0],
            "fatalities": [2.0, 5.0, 1.0, 0.0],
            "actor1": ["Cmdr. John Doe", "Army", "Militia X", "Rioters"],
            "actor2": ["Civilians (Jane Roe)", "Militia X", "Army", pd.NA],
            "notes": ["informant Ali at the well saw ...", "clash", "clash", "riot"],
            "location": ["Well", "Market", "Hill", "Bridge"],
        }
    )
    locality_of = pd.Series(["A", "A", "B", "B"], index=inc.index)
    return inc, locality_of, localities


def test_default_publishes_counts_per_locality_only(world):
    inc, loc, locs = world
    out, notes = incidents_for_publication(inc, loc, locs, RedactionConfig())
    assert set(out.columns) >= {"locality_id", "kind", "count", "lon", "lat"}
    assert not {"notes", "actor1", "actor2", "event_id"} & set(out.columns)
    assert out["count"].sum() == len(inc)
    reps = locs.set_index("locality_id").geometry.representative_point()
    for _, row in out.iterrows():  # every point is its locality's representative point, never an event's
        assert (row["lon"], row["lat"]) == (reps[row["locality_id"]].x, reps[row["locality_id"]].y)
    assert "aggregated" in notes[0]


def test_coarsen_snaps_points_to_grid_cell_centres(world):
    inc, loc, locs = world
    out, notes = incidents_for_publication(inc, loc, locs, RedactionConfig(incident_points="coarsen", coarsen_deg=0.5))
    assert out["lon"].tolist() == [0.25, 0.75, 1.75, 1.25]
    assert out["lat"].tolist() == [0.75, 0.75, 0.25, 0.75]
    assert not {"notes", "actor1", "actor2"} & set(out.columns)
    assert any("coarsened" in n for n in notes) and any("notes" in n and "actor1" in n for n in notes)


def test_exact_mode_keeps_what_is_switched_on(world):
    inc, loc, locs = world
    cfg = RedactionConfig(incident_points="exact", drop_notes=False, drop_personal_names=False)
    out, notes = incidents_for_publication(inc, loc, locs, cfg)
    assert out["lon"].tolist() == inc["lon"].tolist() and "notes" in out and "actor1" in out
    assert notes == []


def test_hide_civilian_victim_events_in_every_mode(world):
    inc, loc, locs = world
    assert civilian_victim_mask(inc).tolist() == [True, False, True, False]
    for mode in ("aggregate", "coarsen", "exact"):
        cfg = RedactionConfig(incident_points=mode, hide_civilian_victim_events=True)
        out, notes = incidents_for_publication(inc, loc, locs, cfg)
        total = out["count"].sum() if "count" in out else len(out)
        assert total == 2, mode
        assert "violence_against_civilians" not in set(out["kind"])
        assert notes[0].startswith("2 events with civilian victims hidden")


def test_snap_is_stable_for_negative_coordinates():
    assert snap_to_grid(pd.Series([-0.01, -0.49, 0.0]), 0.5).tolist() == [-0.25, -0.25, 0.25]


def test_extra_mission_log_columns_never_enter_the_pipeline(tmp_path):
    """A victim's name or an informant's phone in a mission log is not read: only canonical columns leave a reader."""
    from pathlib import Path

    from earlywarn.ingest import read_incidents
    from earlywarn.schema import INCIDENTS

    fixture = Path(__file__).parent / "fixtures" / "ingest" / "mission_log_hxl.csv"
    lines = fixture.read_text(encoding="utf-8").splitlines()
    lines[0] += ",Victim,Informant phone"
    lines[1] += ",#affected+name,#contact+phone"
    lines[2:] = [ln + ",Jane Roe,+211 955 000 111" for ln in lines[2:] if ln.strip()]
    p = tmp_path / "log.csv"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    res = read_incidents(p, "hxl-incidents")
    assert res.n_valid > 0 and list(res.table.columns) == list(INCIDENTS)
    flat = [str(v) for v in res.table.to_numpy().ravel()]
    assert not any("Jane Roe" in v or "955 000" in v for v in flat)
