"""Features: the locality x as-of-date panel, holding only what was known at each date, and its targets.

The panel is the one table the model, the backtest and the map's drivers read; its column names
say what they mean (``vac_count_4w``) so an explanation can be written from the name.
"""
