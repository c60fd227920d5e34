"""`earlywarn alert-test`: send a test message to every alert channel of a mission, to set alerts up.

Real alerts are sent only when something changed, so a channel that is
misconfigured would stay silent and look like a quiet night; this command lets
the information-management officer see each channel deliver (or why not)
before relying on it.
"""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add ``earlywarn alert-test`` to the command-line app, so channels can be
    checked before the first night."""
    @app.command("alert-test")
    def alert_test(
        config: Path = typer.Option(..., "--config", help="Mission YAML with an 'alerts' list."),
        channel: str = typer.Option(None, "--channel", help="Only the channel with this 'name'."),
    ) -> None:
        """Send a test message to every configured alert channel. Exit 0 if all delivered, 1 if one failed."""
        from earlywarn.config import load_config
        from earlywarn.errors import UserError
        from earlywarn.publish.alerts import send_test

        cfg = load_config(config)
        if not cfg.alerts:
            raise UserError(f"{config}: no 'alerts' configured (see README, 'Alerts')")
        if channel is not None and channel not in {a.name for a in cfg.alerts}:
            raise UserError(f"{config}: no alert channel named {channel!r}")
        reports = send_test(cfg, channel)
        for r in reports:
            typer.echo(f"{'sent' if r.status == 'sent' else 'FAILED':<7} {r.channel}: {r.detail}")
        if any(r.status != "sent" for r in reports):
            raise typer.Exit(1)
