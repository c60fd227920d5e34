"""Training a model to publish: fit every horizon with the scorer its backtest chose, save it, write its card.

Why apart from :mod:`earlywarn.model.forecaster`: the forecaster is the
published object (fit, score, save, load); training for publication also
needs the backtest's choice and the model card, and the card in turn
describes a forecaster. Keeping the sequence here lets each of those
modules import only what it describes.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from earlywarn.config import DEFAULT_PRIMARY_HORIZON
from earlywarn.model.backtest import BacktestResult, Backtests
from earlywarn.model.card import write_model_card
from earlywarn.model.forecaster import Forecaster
from earlywarn.model.threat import DEFAULT_SEED, ModelParams


def train_model(
    panel: pd.DataFrame,
    *,
    seed: int = DEFAULT_SEED,
    primary_horizon: int = DEFAULT_PRIMARY_HORIZON,
    horizons=None,
    out_dir: str | Path,
    backtest_result: Backtests | BacktestResult | None = None,
    params: ModelParams | None = None,
    max_rows: int | None = None,
) -> tuple[Forecaster, str, Path]:
    """Fit every horizon on the labelled rows of ``panel``, publish each horizon's chosen scorer, save, write the card.

    The scorer of each horizon is the one :mod:`earlywarn.model.selection` chose on
    ``backtest_result`` (the model when there is no backtest, or none for that horizon).
    """
    hs = sorted(set(horizons or [primary_horizon]) | {primary_horizon})
    scorers = {}
    for h in hs:
        scorers[h] = "model"
        if backtest_result is not None:
            try:
                sel = backtest_result.for_horizon(h).selection
            except KeyError:
                sel = None
            scorers[h] = sel.scorer if sel is not None else "model"
    model = Forecaster.fit(panel, horizons=hs, primary_horizon=primary_horizon, seed=seed, params=params,
                           scorers=scorers, max_rows=max_rows)
    for m in model.models.values():
        m.info_["data_end"] = panel.attrs.get("data_end")
        m.info_["unit"] = panel.attrs.get("unit")
        m.info_["step"] = panel.attrs.get("step")
    model.save(out_dir)
    card = write_model_card(model, out_dir, backtest_result)
    return model, str(model.version), card
