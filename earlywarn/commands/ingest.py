"""`earlywarn validate`: read one file as published and report what would be kept and quarantined."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add ``earlywarn validate`` to the command-line app (commands live apart from cli.py to keep it short)."""
    @app.command()
    def validate(
        path: Path = typer.Argument(..., help="File to read, exactly as published (.csv, .gz, .zip, .xlsx)."),
        fmt: str = typer.Option(..., "--format", help="ucdp-ged | acled | hxl-incidents | dtm"),
        quarantine_out: Path = typer.Option(None, help="Write the quarantined rows (with reasons) to this CSV."),
    ) -> None:
        """Rows read, valid and quarantined by reason. Exit 0 if the file was readable, 2 if not."""
        from earlywarn.atomic import write_with
        from earlywarn.ingest import FORMATS, IngestError, validate_file

        if fmt not in FORMATS:
            typer.echo(f"error: unknown format {fmt!r}; expected one of {', '.join(FORMATS)}", err=True)
            raise typer.Exit(2)
        try:
            s = validate_file(path, fmt)
        except IngestError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        typer.echo(f"{path} ({fmt})")
        typer.echo(f"  rows read         {s['rows_read']:>9,}")
        typer.echo(f"  valid             {s['rows_valid']:>9,}")
        typer.echo(f"  quarantined       {s['rows_quarantined']:>9,}")
        for reason, n in s["by_reason"].items():
            typer.echo(f"    {n:>7,}  {reason}")
        if quarantine_out is not None:
            write_with(quarantine_out, lambda p: s["quarantine"].to_csv(p, index=False))
            typer.echo(f"  quarantine written to {quarantine_out}")
