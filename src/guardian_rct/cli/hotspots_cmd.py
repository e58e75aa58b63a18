"""``guardian-rct hotspots ...``: validate, summarise and build hotspot polygons."""

from __future__ import annotations

import argparse
from pathlib import Path

from guardian_rct.cli._common import Output, add_common
from guardian_rct.hotspots import DEFAULT_CRS, read_hotspots


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``hotspots`` verb group."""
    parser = sub.add_parser("hotspots", help="validate, summarise and build hotspot polygons")
    verbs = parser.add_subparsers(dest="hotspots_command", metavar="VERB")
    validate = verbs.add_parser("validate", help="check a hotspot file and report its statistics")
    validate.add_argument("file", type=Path, help="GeoJSON, GeoPackage or Shapefile")
    validate.add_argument("--id-column", default="hotspot_id")
    validate.add_argument("--block-column", default=None)
    validate.add_argument("--crs", default=DEFAULT_CRS, help="metric CRS to work in (default %(default)s)")
    add_common(validate)
    validate.set_defaults(handler=_validate)


def _validate(args: argparse.Namespace) -> Output:
    hotspots = read_hotspots(args.file, id_column=args.id_column, block_column=args.block_column,
                             crs=args.crs)
    area_km2 = float(hotspots.frame.area.sum()) / 1e6
    data = {"file": str(args.file), "hotspots": len(hotspots), "total_area_km2": round(area_km2, 4),
            "sha256": hotspots.sha256, "repaired": list(hotspots.repaired)}
    return Output(f"{args.file}: {len(hotspots)} hotspots, {area_km2:.3f} km² in total", data)
