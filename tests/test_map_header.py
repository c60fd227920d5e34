"""The map header is one typed record built in publish: what a planner reads before trusting the colours."""

from __future__ import annotations

import pandas as pd

from earlywarn.publish.header import NO_BACKTEST, MapHeader, map_header

CARD = {"horizon_weeks": 4,
        "by_horizon": {"1": {"selection": {"why": "the model beat every baseline at 1 week"}},
                       "4": {"selection": {"why": "historical rate: the model did not beat it"}}}}


def _header(**kw) -> MapHeader:
    args = dict(mission="M", as_of=pd.Timestamp("2026-01-04"), primary=4, horizons=[1, 4, 12], model_version="v1",
                run_id="r1", model_card=CARD, schemes={1: "s1", 4: "s4", 12: "s12"}, primary_scheme="s4",
                freshness=[{"source": "acled", "status": "ok"}], warnings=["w"], run_date="2026-01-05 02:00 UTC")
    return map_header(**(args | kw))


def test_header_names_every_horizon_its_scorer_and_the_primary_caveat():
    h = _header()
    assert h.horizons == [1, 4, 12] and h.primary_horizon == 4 and h.horizon_weeks == 4
    assert h.scorer == "historical rate: the model did not beat it"  # the primary's own selection
    assert h.horizon_scorers == {"1": "the model beat every baseline at 1 week",
                                 "4": "historical rate: the model did not beat it", "12": NO_BACKTEST}
    assert h.horizon_schemes == {"1": "s1", "4": "s4", "12": "s12"} and h.risk_scheme == "s4"
    assert "in the 4 weeks after 2026-01-04" in h.caveat and "switch to 1, 12 weeks" in h.caveat
    assert "switch" not in _header(horizons=[4], schemes={4: "s4"}).caveat  # one horizon: nothing to switch to


def test_header_is_what_the_renderer_reads_and_warnings_can_be_added_later():
    h = _header()
    d = h.as_dict()
    assert d["mission"] == "M" and d["as_of"] == "2026-01-04" and d["run_id"] == "r1" and d["warnings"] == ["w"]
    later = h.with_warnings(h.warnings + ["database write failed (x)"])
    assert later.warnings == ["w", "database write failed (x)"] and h.warnings == ["w"]  # the original is unchanged
    assert later.as_dict() | {"warnings": ["w"]} == d


def test_render_map_takes_the_typed_header_as_it_took_the_dict():
    from earlywarn.publish import render_map
    from earlywarn.publish.sample import grid_localities, render_inputs

    locs = grid_localities(4, 4)
    kw = render_inputs(locs, with_context=False) | {"header": None}
    hdr = _header(horizons=[4], schemes={4: "s4"}, mission="TYPEDHEADER")
    typed = render_map(locs, **(kw | {"header": hdr}))
    assert typed == render_map(locs, **(kw | {"header": hdr.as_dict()}))
    assert "TYPEDHEADER" in typed and "in the 4 weeks after 2026-01-04" in typed


def test_the_evidence_survives_the_headers_shortening():
    """Issue 24: the header says how much evidence the choice rests on, however long the reason after it."""
    from earlywarn.publish.horizons import SCORER_CHARS

    label = "baseline alone: spatial-lag logistic (logistic on own and neighbouring recent attacks)"
    sel = {"label": label, "why": label + ": the simplest scorer with Brier within 5% of the best" + " x" * 400,
           "evidence": {"folds": 2, "weeks": 26, "rows": 4455, "positives": 321, "horizons": [1, 4, 12]}}
    h = _header(model_card={"horizon_weeks": 4, "by_horizon": {"4": {"selection": sel}}}, horizons=[4],
                schemes={4: "s4"})
    head = h.scorer[:SCORER_CHARS]
    assert head.startswith(label + " (chosen on 2 folds, 26 weeks, 4,455 rows with 321 positives, pooled over")
    assert ": the simplest scorer" in head
