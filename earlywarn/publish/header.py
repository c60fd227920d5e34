"""The map header: what a planner must read before trusting the colours.

Run date, the as-of date of the data, how fresh each feed is (a stale feed is
said in words), the model and run ids that trace every number to the run
manifest, what "risk" means (the caveat), the risk scheme in force and which
scorer each horizon publishes, and the run's warnings. :class:`MapHeader` is
a typed record of exactly that, so the caveat and the horizon texts are
written here once, not assembled as a loose dict by whoever calls the renderer.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

import pandas as pd

from earlywarn.i18n import N_, _, date_text

NO_BACKTEST = N_("the model (no backtest yet: its skill is unmeasured)")


@dataclass(frozen=True)
class MapHeader:
    """Everything the map's header panel and horizon switch show; :meth:`as_dict` is what the renderer reads."""

    mission: str
    run_date: str
    as_of: str
    model_version: str | None
    run_id: str | None
    horizon_weeks: int
    caveat: str
    freshness: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    risk_scheme: str = ""
    horizons: list[int] = field(default_factory=list)
    primary_horizon: int | None = None
    horizon_schemes: dict[str, str] = field(default_factory=dict)
    scorer: str = ""
    horizon_scorers: dict[str, str] = field(default_factory=dict)

    def with_warnings(self, warnings: list[str]) -> MapHeader:
        """The same header with another warning list (a database failure is said after the files are out)."""
        return replace(self, warnings=list(warnings))

    def as_dict(self) -> dict[str, Any]:
        """The plain mapping :func:`earlywarn.publish.render_map` reads (it also takes hand-made dicts)."""
        return asdict(self)


def caveat(primary: int, horizons: list[int], as_of: pd.Timestamp) -> str:
    """What the risk figure means and does not, in one sentence under the header.

    Readers take a probability for a prediction of fact; the caveat names the
    event, the window and the main bias (uneven under-reporting), and says the
    map supports judgement rather than replacing it.

    Examples
    --------
    >>> import pandas as pd
    >>> caveat(4, [4], pd.Timestamp("2026-01-04"))[:80]
    'Risk = modelled probability of at least one attack on civilians in the 4 weeks a'
    """
    others = [str(h) for h in horizons if h != primary]
    return (_("Risk = modelled probability of at least one attack on civilians in the {n} weeks after {date}").format(
                n=primary, date=date_text(as_of.date()))
            + (" " + _("(switch to {others} weeks above; flags stay on this horizon)").format(others=", ".join(others))
               if len(horizons) > 1 else "")
            + _(", from reported incidents only (under-reporting is uneven). ")
            + _("Decision support, not a substitute for analyst judgement."))


def scorer_texts(model_card: dict, horizons: list[int]) -> dict[int, str]:
    """Per horizon, why its published scorer was chosen and on how much evidence (the card's backtest selection)."""
    from earlywarn.model.selection import reason_with_evidence

    by_h = model_card.get("by_horizon") or {}
    out = {}
    for h in horizons:
        sel = (by_h.get(str(h)) or {}).get("selection")
        out[h] = reason_with_evidence(sel) if sel else _(NO_BACKTEST)
    return out


def map_header(
    *,
    mission: str,
    as_of: pd.Timestamp,
    primary: int,
    horizons: list[int],
    model_version: str | None,
    run_id: str | None,
    model_card: dict,
    schemes: dict[int, str],
    primary_scheme: str = "",
    freshness: list[dict] | None = None,
    warnings: list[str] | None = None,
    run_date: str | None = None,
) -> MapHeader:
    """The header of one run's map.

    ``horizons`` / ``primary`` are the config's (the caveat names them);
    ``schemes`` maps each scored horizon to its risk-scheme sentence and sets
    the horizons the switch offers (the model card's primary when none);
    ``run_date`` defaults to now, in UTC.
    """
    shown = sorted(int(h) for h in schemes) or [int(model_card.get("horizon_weeks", 4))]
    card_primary = int(model_card.get("horizon_weeks", shown[0]))
    texts = scorer_texts(model_card, sorted(set(shown) | {card_primary}))
    return MapHeader(
        mission=mission,
        run_date=run_date or pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%d %H:%M UTC"),
        as_of=str(as_of.date()),
        model_version=model_version,
        run_id=run_id,
        horizon_weeks=primary,
        caveat=caveat(primary, horizons, as_of),
        freshness=list(freshness or []),
        warnings=list(warnings or []),
        risk_scheme=primary_scheme,
        horizons=shown,
        primary_horizon=card_primary,
        horizon_schemes={str(h): s for h, s in schemes.items()},
        scorer=texts[card_primary],
        horizon_scorers={str(h): texts[h] for h in shown},
    )
