"""The threat model and how it earns its place: the model, the baselines it must beat, the
rolling-origin backtest, the rule that picks what is published, the registry, the model card and
the model file.
"""
