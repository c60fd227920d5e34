"""`earlywarn fetch`: refresh every feed's local copy from its publisher, and nothing else.

Useful on its own before an offline trip (take the freshest data along) and
to check credentials; the nightly run calls the same library function
(:func:`earlywarn.ingest.fetch.fetch_all`). Exit 0 when every feed was
refreshed or already current, 1 when some feed failed and kept its last
copy, 2 for a user's mistake (a missing or refused credential, a config error).
"""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add ``earlywarn fetch`` to the command-line app: the fetch stage alone, to refresh feeds without a run."""
    @app.command()
    def fetch(
        config: Path = typer.Option(..., "--config", "-c", help="Mission YAML file; sources with a 'fetch' block."),
        source: list[str] = typer.Option(None, "--source", "-s", help="Only this source (repeatable)."),
        full: bool = typer.Option(False, "--full", help="Ignore the copies held and fetch every feed's whole "
                                                        "history again (drops events the publisher withdrew)."),
    ) -> None:
        """Refresh the local copies of the feeds that have a 'fetch' block: new and revised events only.

        Shows each feed's progress (page k of n), then one line per feed: new,
        revised and held rows, requests, bytes and seconds. Credentials come
        from the environment variables named in the config, never from it.
        """
        from earlywarn.config import load_config
        from earlywarn.ingest.fetch import fetch_all, fetchable

        cfg = load_config(config)
        if not fetchable(cfg):
            typer.echo(f"{config}: no source has a 'fetch' block; nothing to fetch")
            return
        reports = fetch_all(cfg, only=source or None, full=full)
        for r in reports:
            typer.echo(r.line())
        failed = [r.source for r in reports if not r.ok]
        if failed:
            typer.echo(f"{len(failed)} feed(s) failed and keep their last local copy: {', '.join(failed)}", err=True)
            raise typer.Exit(1)
