"""earlywarn: early warning of violence against civilians for UN peace operations.

The package is laid out by stage, in the order data flows (README, "Layout"):
ingest, geo, features, model, decide, publish, brief; ``pipeline`` runs them
as the nightly sequence and ``cli`` exposes them as the ``earlywarn`` command.
Everything is importable without Prefect, so the library can be used and
tested on its own.
"""
