"""Map benchmark: 10,000 realistic polygons -> HTML size and first paint in Chromium.

Targets (issue 7): the file stays under 12 MB and the map is painted in
under 3 s in headless Chromium on the mission laptop class of machine.

The localities are a Voronoi tessellation with wiggly shared boundaries
(30-60 vertices per polygon, like admin-3 units) plus incidents, bases and
IDP sites and a map context (mission area, a border, rivers, 3,000 towns,
mission layers; ``sample.context``), rendered through the public
``render_map``. The page is rendered once more without the context so the
context's share of the bytes is measured, not estimated; likewise the
history's share and, with ``--horizons 1,4,12`` (the default), the extra
forecast horizons' share (the table then carries ``risk_{h}w``,
``risk_class_{h}w`` and ``driver_1..3_{h}w``; ``--horizons 4``: one horizon,
the single-horizon map). "First paint" is the
time from navigation start to the first frame after all locality polygons
were added (``ew-painted`` mark); the browser's own first-contentful-paint
(the header) and load event are reported too.

Run: ``.venv/bin/python benchmarks/bench_map.py [--n 10000] [--runs 3] [--keep out.html] [--no-context]
[--horizons 1,4,12]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import shapely

from earlywarn.publish import render_map, sample
from earlywarn.publish.browser import inspect_map, unavailable_reason
from earlywarn.publish.context import prepare_context
from earlywarn.publish.geometry import encode_polygons

SIZE_TARGET_MB = 12.0
PAINT_TARGET_S = 3.0


def run(
    n: int = 10_000, runs: int = 3, keep: Path | None = None, n_incidents: int = 5_000, context: bool = True,
    history_runs: int = 12, horizons: tuple[int, ...] = (1, 4, 12), primary: int = 4,
) -> dict:
    t0 = time.perf_counter()
    locs = sample.voronoi_localities(n, seed=7)
    vertices = shapely.get_num_coordinates(np.asarray(locs.geometry.array, dtype=object))
    inputs = sample.render_inputs(locs, with_context=False)
    inputs.pop("context")
    inputs["incidents"] = sample.incidents(locs, n=n_incidents, seed=8)
    ctx = sample.context(locs, n_towns=3_000, n_rivers=12, river_vertices=5_000) if context else None
    # The time control's earlier runs (the published map keeps the last 12, this one included).
    hist = sample.history(locs, runs=history_runs - 1) if history_runs > 1 else None
    single = locs
    if len(horizons) > 1:
        locs, keys = sample.with_horizons(locs, horizons=horizons, primary=primary)
        inputs["header"] = inputs["header"] | keys
    t_build = time.perf_counter() - t0

    t0 = time.perf_counter()
    html = render_map(locs, **inputs, context=ctx, history=hist)
    t_render = time.perf_counter() - t0
    enc = encode_polygons(locs.geometry)
    size_mb = len(html.encode("utf-8")) / 1e6
    context_result: dict = {}
    if ctx is not None:
        bare_mb = len(render_map(locs, **inputs, history=hist).encode("utf-8")) / 1e6
        fit = prepare_context(ctx, tuple(locs.total_bounds))
        context_result = {
            "html_mb_without_context": round(bare_mb, 2),
            "context_mb": round(size_mb - bare_mb, 3),
            "context_share": round((size_mb - bare_mb) / size_mb, 3),
            "context_payload_bytes": fit.total_bytes,
            "context_budget_bytes": fit.budget,
            "context_layer_bytes": fit.layer_bytes,
            "context_tolerance_deg": round(fit.tolerance, 6),
        }

    horizon_result: dict = {}
    if len(horizons) > 1:
        one_mb = len(render_map(single, **inputs | {"header": sample.header()}, context=ctx, history=hist)
                     .encode("utf-8")) / 1e6
        horizon_result = {"horizons": list(horizons), "primary_horizon": primary,
                          "html_mb_single_horizon": round(one_mb, 3), "horizons_mb": round(size_mb - one_mb, 3)}
    history_result: dict = {}
    if hist is not None:
        no_hist_mb = len(render_map(locs, **inputs, context=ctx).encode("utf-8")) / 1e6
        history_result = {"history_runs": history_runs, "history_mb": round(size_mb - no_hist_mb, 3)}
    result: dict = {
        "polygons": int(len(locs)),
        "incidents": n_incidents,
        "vertices_per_polygon_in": round(float(vertices.mean()), 1),
        "vertices_per_polygon_out": round(enc.n_vertices / max(1, len(locs)), 1),
        "simplification": enc.method,
        "tolerance_deg": round(enc.tolerance, 6),
        "build_s": round(t_build, 2),
        "render_s": round(t_render, 2),
        "html_mb": round(size_mb, 2),
        **context_result,
        **history_result,
        **horizon_result,
        "size_ok": size_mb < SIZE_TARGET_MB,
    }
    reason = unavailable_reason()
    if reason:
        result["browser"] = f"skipped: {reason}"
        return result
    with tempfile.TemporaryDirectory() as tmp:
        path = keep or Path(tmp) / "bench_map.html"
        path.write_text(html, encoding="utf-8")
        reports = [inspect_map(path) for _ in range(runs)]
    painted = [r.timings_ms["ew-painted"] / 1000 for r in reports]
    result.update(
        {
            "browser_runs": runs,
            # Chromium does not always report a first-contentful-paint entry (headless, a page done
            # before the observer runs); the map's own "painted" mark is the figure that counts.
            "first_contentful_paint_s": _median_s([r.timings_ms.get("first-contentful-paint") for r in reports]),
            "load_event_s": round(statistics.median(r.timings_ms["load"] for r in reports) / 1000, 2),
            "map_painted_s_median": round(statistics.median(painted), 2),
            "map_painted_s_max": round(max(painted), 2),
            "drawn_polygons": reports[0].stats.get("localities"),
            "svg_paths": reports[0].locality_paths,
            "console_errors": sum(len(r.console_errors) + len(r.page_errors) for r in reports),
            "external_requests": sum(len(r.external) for r in reports),
            "paint_ok": max(painted) < PAINT_TARGET_S,
        }
    )
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000, help="number of locality polygons")
    ap.add_argument("--runs", type=int, default=3, help="browser loads to time (median reported)")
    ap.add_argument("--incidents", type=int, default=5_000, help="incident points on the map")
    ap.add_argument("--keep", type=Path, default=None, help="also keep the rendered HTML at this path")
    ap.add_argument("--no-context", action="store_true", help="render without the map context")
    ap.add_argument("--history-runs", type=int, default=12, help="runs in the map's time control (1: none)")
    ap.add_argument("--horizons", default="1,4,12", help="forecast horizons in weeks, comma-separated (4: one)")
    ap.add_argument("--primary", type=int, default=4, help="the primary horizon (drives the flags)")
    args = ap.parse_args(argv)
    horizons = tuple(sorted({int(h) for h in args.horizons.split(",") if h.strip()}))
    result = run(args.n, args.runs, args.keep, args.incidents, context=not args.no_context,
                 history_runs=args.history_runs, horizons=horizons, primary=args.primary)
    print(json.dumps(result, indent=2))
    ok = result["size_ok"] and result.get("paint_ok", True)
    if "context_mb" in result:
        print(
            f"context: {result['context_mb']} MB of {result['html_mb']} MB ({result['context_share']:.1%}), "
            f"payload {result['context_payload_bytes']:,} of {result['context_budget_bytes']:,} bytes budget, "
            f"tolerance {result['context_tolerance_deg']} deg"
        )
    print(
        f"map benchmark: size {result['html_mb']} MB (target < {SIZE_TARGET_MB}), "
        f"painted {result.get('map_painted_s_max', 'n/a')} s (target < {PAINT_TARGET_S}) -> "
        f"{'OK' if ok else 'MISSED'}"
    )
    return 0 if ok else 1


def _median_s(values_ms: list[float | None]) -> float | None:
    """Median of the reported values in seconds, or None when no run reported one."""
    got = [v for v in values_ms if v is not None]
    return round(statistics.median(got) / 1000, 2) if got else None


if __name__ == "__main__":
    sys.exit(main())
