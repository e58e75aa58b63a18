"""``guardian-rct hotspots ...``: validate, summarise and build hotspot polygons.

* ``validate FILE``: read and check a hotspot file (ids, CRS, polygons, overlaps, parts
  outside the force boundary) and report area, centroids and coverage of the boundary.
* ``summary FILE --crimes CSV``: "N hotspots cover X% of the force area, Y% of violence
  and Z% of harm" from data.police.uk street crimes.
* ``rings FILE --out rings.geojson``: displacement buffer rings (0-100 m, 100-200 m, ...).
* ``build --crimes CSV --boundary B --out FILE``: build hotspots from street crimes.

The boundary is, in order: ``--boundary``; ``[hotspots] boundary`` of ``--config``; a
``force_boundary.geojson`` next to the hotspot file (as in the shipped ``geodata/``).
``--no-boundary`` turns the boundary checks off.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pyogrio

from guardian_rct._core.errors import DataError, UsageError
from guardian_rct._core.safe_write import atomic_path, check_output_path
from guardian_rct.cli._common import Output, add_common, add_config, protect_trial_files
from guardian_rct.config.trial_config import TrialConfig, load_config
from guardian_rct.crimes.policeuk import StreetCrimes, read_street_crimes
from guardian_rct.geo.build import build_hotspots, read_districts
from guardian_rct.geo.checks import Boundary, check_hotspots, read_boundary
from guardian_rct.geo.coverage import coverage
from guardian_rct.geo.hotspots import DEFAULT_CRS, HotspotSet, read_hotspots
from guardian_rct.geo.rings import buffer_rings

SIBLING_BOUNDARY = "force_boundary.geojson"


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``hotspots`` verb group."""
    parser = sub.add_parser("hotspots", help="validate, summarise and build hotspot polygons",
                            description=__doc__.split("\n\n", 1)[1].replace("``", ""))
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    verbs = parser.add_subparsers(dest="hotspots_command", metavar="VERB")

    validate = verbs.add_parser(
        "validate", help="check a hotspot file and report its statistics",
        description="Check a hotspot file: unique ids, CRS, polygons (invalid ones repaired with "
        "a warning unless --no-repair), overlaps and parts outside the force boundary (errors "
        "unless --allow-overlaps / --allow-outside); report area, centroids and the share of the "
        "force area covered.")
    _add_hotspot_options(validate)
    validate.add_argument("--no-repair", action="store_true",
                          help="refuse invalid polygons instead of repairing them")
    validate.add_argument("--allow-overlaps", action="store_true",
                          help="report overlapping hotspots without failing")
    validate.add_argument("--allow-outside", action="store_true",
                          help="report hotspots outside the boundary without failing")
    validate.add_argument("--table", action="store_true",
                          help="also list each hotspot's name, block, area and centroid")
    validate.set_defaults(handler=_validate)

    summary = verbs.add_parser(
        "summary", help="share of force area, violence and harm the hotspots cover",
        description="Print 'N hotspots cover X% of the force area, Y% of violence and Z% of harm' "
        "from data.police.uk street crimes (harm: category-level CCHI days).")
    _add_hotspot_options(summary)
    _add_crime_options(summary)
    summary.set_defaults(handler=_summary)

    rings = verbs.add_parser(
        "rings", help="write displacement buffer rings around each hotspot",
        description="Write the rings around each hotspot used for displacement analysis "
        "(e.g. 0-100 m and 100-200 m), excluding every hotspot; where rings of neighbouring "
        "hotspots meet, each place goes to the nearer hotspot unless --neighbours overlap.")
    _add_hotspot_options(rings, boundary=False)
    rings.add_argument("--distances", default=None,
                       help="outer ring distances in metres, e.g. 100,200 "
                       "(default: [hotspots] buffer_rings_m of the config, else 100,200)")
    rings.add_argument("--neighbours", choices=("split", "overlap"), default="split",
                       help="split rings between neighbours by nearness, or let them overlap")
    rings.add_argument("--out", type=Path, required=True, help="output .geojson or .gpkg")
    rings.set_defaults(handler=_rings)

    build = verbs.add_parser(
        "build", help="build hotspots from data.police.uk street crimes",
        description="Rank equal-sized grid cells by violent harm (CCHI) and grow N compact, "
        "non-overlapping hotspots covering a target share of the force area; see "
        "guardian_rct.geo.build for the method and its sources.")
    _add_crime_options(build)
    build.add_argument("--boundary", type=Path, help="force boundary (required unless in the config)")
    build.add_argument("--districts", type=Path, help="district polygons used as blocks")
    build.add_argument("--district-column", default=None,
                       help="column naming the districts (default: 'name' or an ONS '...NM' column)")
    build.add_argument("--out", type=Path, required=True, help="output .geojson or .gpkg")
    build.add_argument("-n", "--n", type=int, default=57, help="number of hotspots (default %(default)s)")
    build.add_argument("--share", default="1.4%",
                       help="target share of the force area, '1.4%%' or 0.014 (default %(default)s)")
    build.add_argument("--cell-size", type=float, default=150.0, help="grid cell side, m (default %(default)s)")
    build.add_argument("--max-radius", type=int, default=2,
                       help="cells a hotspot may reach from its seed (default %(default)s)")
    build.add_argument("--min-separation", type=int, default=4,
                       help="minimum distance between seeds, cells (default %(default)s)")
    build.add_argument("--crs", default=None, help=f"metric CRS to work in (default {DEFAULT_CRS})")
    add_config(build, required=False)
    add_common(build)
    build.set_defaults(handler=_build)


def _add_hotspot_options(parser: argparse.ArgumentParser, *, boundary: bool = True) -> None:
    parser.add_argument("file", type=Path, nargs="?",
                        help="GeoJSON, GeoPackage or Shapefile (default: [hotspots] path of --config)")
    if boundary:
        _add_boundary_options(parser)
    parser.add_argument("--id-column", default=None, help="id column (default hotspot_id)")
    parser.add_argument("--block-column", default=None, help="block column (default: block if present)")
    parser.add_argument("--crs", default=None, help=f"metric CRS to work in (default {DEFAULT_CRS})")
    add_config(parser, required=False)
    add_common(parser)


def _add_boundary_options(parser: argparse.ArgumentParser) -> None:
    boundary = parser.add_mutually_exclusive_group()
    boundary.add_argument("--boundary", type=Path,
                          help=f"force boundary (default: the config's, or {SIBLING_BOUNDARY} next to FILE)")
    boundary.add_argument("--no-boundary", action="store_true", help="skip the boundary checks")


def _add_crime_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--crimes", type=Path, nargs="+", required=True,
                        help="data.police.uk street CSVs or folders of them")
    parser.add_argument("--crime-types", default=None,
                        help="comma-separated crime types counted as violence "
                        "(default: Violent crime, Robbery for 2011 data; Violence and sexual "
                        "offences, Robbery, Possession of weapons for current data)")
    parser.add_argument("--quarantine", type=Path, default=None,
                        help="write unusable crime rows (with reasons) to this CSV")


def _config(args: argparse.Namespace) -> TrialConfig | None:
    """The config of ``--config`` (its files become write-protected), or ``None``."""
    if not args.config:
        return None
    config = load_config(args.config)
    protect_trial_files(config)
    return config


def _input_files(args: argparse.Namespace) -> list[Path]:
    """Every file this call reads, which no output of it may replace."""
    files = [getattr(args, name, None) for name in ("file", "boundary", "districts")]
    crimes = getattr(args, "crimes", None) or []
    files += [c for c in crimes if not Path(c).is_dir()]
    for folder in (c for c in crimes if Path(c).is_dir()):
        files += sorted(Path(folder).rglob("*.csv*"))
    return [Path(f) for f in files if f is not None]


def _check_outputs(args: argparse.Namespace) -> None:
    """Refuse ``--out``/``--quarantine`` over an input or a protected file before any work."""
    inputs = _input_files(args)
    for option in ("out", "quarantine"):
        path = getattr(args, option, None)
        if path is not None:
            check_output_path(path, inputs=inputs, what=f"--{option} file")


def _crs(args: argparse.Namespace, config: TrialConfig | None) -> str:
    return args.crs or (config.hotspots.crs if config else DEFAULT_CRS)


def _read_hotspots(args: argparse.Namespace, config: TrialConfig | None, *, repair: bool = True) -> HotspotSet:
    spec = config.hotspots if config else None
    path = args.file or (spec.path if spec else None)
    if path is None:
        raise UsageError("no hotspot file given", where=f"hotspots {args.hotspots_command}",
                         fix="name the file, or give --config trial.toml with [hotspots] path")
    id_column = args.id_column or (spec.id_column if spec else "hotspot_id")
    block_column = args.block_column or (spec.block_column if spec else _default_block(path))
    name_column = spec.name_column if spec else "name"
    return read_hotspots(path, id_column=id_column, block_column=block_column, name_column=name_column,
                         crs=_crs(args, config), repair=repair)


def _default_block(path: Path) -> str | None:
    """``block`` when the file has such a column (as built files do), else none."""
    try:
        fields = pyogrio.read_info(path)["fields"]
    except Exception:  # unreadable: read_hotspots reports it properly
        return None
    return "block" if "block" in list(fields) else None


def _boundary(args: argparse.Namespace, config: TrialConfig | None, hotspots: HotspotSet | None,
              crs: str) -> Boundary | None:
    if getattr(args, "no_boundary", False):
        return None
    if args.boundary:
        return read_boundary(args.boundary, crs=crs)
    if config and config.hotspots.boundary:
        return read_boundary(config.hotspots.boundary, crs=crs)
    if hotspots is not None and hotspots.source is not None:
        sibling = hotspots.source.parent / SIBLING_BOUNDARY
        if sibling.is_file():
            return read_boundary(sibling, crs=crs)
    return None


def _crimes(args: argparse.Namespace, crs: str) -> tuple[StreetCrimes, str]:
    crimes = read_street_crimes(args.crimes, crs=crs)
    note = crimes.summary()
    if len(crimes.quarantine):
        note += " (" + ", ".join(f"{k}: {v}" for k, v in crimes.quarantine.counts().items()) + ")"
        if args.quarantine:
            crimes.quarantine.write_csv(args.quarantine, inputs=_input_files(args))
            note += f"; written to {args.quarantine}"
    return crimes, note


def _types(args: argparse.Namespace) -> list[str] | None:
    if not args.crime_types:
        return None
    return [t.strip() for t in args.crime_types.split(",") if t.strip()]


def _validate(args: argparse.Namespace) -> Output:
    config = _config(args)
    hotspots = _read_hotspots(args, config, repair=not args.no_repair)
    boundary = _boundary(args, config, hotspots, str(hotspots.crs.to_string()))
    check = check_hotspots(hotspots, boundary)
    where = str(hotspots.source)
    if len(check.overlaps) and not args.allow_overlaps:
        pairs = check.problems()[: min(3, len(check.overlaps))]
        more = f" and {len(check.overlaps) - len(pairs)} more pair(s)" if len(check.overlaps) > len(pairs) else ""
        raise DataError("overlapping hotspots: " + "; ".join(pairs) + more, where=where,
                        fix="redraw them so they do not overlap (a crime must belong to one "
                        "hotspot), or pass --allow-overlaps to report without failing")
    if len(check.outside) and not args.allow_outside:
        rows = check.outside
        lines = [p for p in check.problems() if "outside the boundary" in p][:3]
        more = f" and {len(rows) - len(lines)} more" if len(rows) > len(lines) else ""
        raise DataError("hotspots outside the force boundary: " + "; ".join(lines) + more,
                        where=where, expected=f"every hotspot inside {boundary.source}",
                        fix="check the CRS and the hotspot polygons, or pass --allow-outside")
    text = check.summary()
    if args.table:
        table = check.table.assign(area_km2=check.table["area_m2"] / 1e6)
        text += "\n" + table[["hotspot_id", "name", "block", "area_km2", "centroid_x", "centroid_y"]].to_string(
            index=False, float_format=lambda v: f"{v:.3f}" if v < 1000 else f"{v:.0f}")
    data = check.to_dict()
    if boundary is not None and not args.boundary and not (config and config.hotspots.boundary):
        text += f"\n(boundary {SIBLING_BOUNDARY} found next to the hotspot file; --boundary or --no-boundary to change)"
        data["boundary_found_next_to_file"] = True
    if boundary is None:
        text += "\n(no boundary: pass --boundary to check hotspots against the force area)"
    return Output(text, data)


def _summary(args: argparse.Namespace) -> Output:
    config = _config(args)
    _check_outputs(args)
    hotspots = _read_hotspots(args, config)
    crs = hotspots.crs.to_string()
    boundary = _boundary(args, config, hotspots, crs)
    if boundary is None:
        raise UsageError("the summary needs the force boundary", where="hotspots summary",
                         fix="pass --boundary FILE (or set [hotspots] boundary in the config)")
    crimes, note = _crimes(args, crs)
    cov = coverage(hotspots, boundary, crimes, crime_types=_types(args))
    data = cov.to_dict()
    data["crimes_quarantined"] = crimes.quarantine.counts()
    return Output(cov.summary() + "\n" + note, data)


def _rings(args: argparse.Namespace) -> Output:
    config = _config(args)
    _check_outputs(args)
    hotspots = _read_hotspots(args, config)
    if args.distances:
        try:
            distances = tuple(float(d) for d in args.distances.split(","))
        except ValueError:
            raise UsageError("--distances does not parse", expected="metres separated by commas, e.g. 100,200",
                             found=repr(args.distances), where="--distances", fix="write e.g. --distances 100,200") from None
    else:
        distances = config.hotspots.buffer_rings_m if config else (100.0, 200.0)
    if not distances or any(d <= 0 for d in distances) or list(distances) != sorted(set(distances)):
        raise UsageError("ring distances must be positive and increasing", found=repr(distances),
                         where="--distances", fix="write e.g. --distances 100,200")
    rings = buffer_rings(hotspots, distances, neighbours=args.neighbours)
    suffix = args.out.suffix.lower()
    if suffix not in (".geojson", ".json", ".gpkg"):
        raise UsageError("unsupported output format", where=str(args.out), expected=".geojson or .gpkg",
                         found=suffix or "no suffix", fix="name the output rings.geojson or rings.gpkg")
    out = rings.assign(area_m2=rings.area.round(1))
    with atomic_path(args.out, inputs=[*_input_files(args), hotspots.source], what="rings file") as tmp:
        if suffix == ".gpkg":
            out.to_file(tmp, driver="GPKG", layer="rings")
        else:
            out.to_crs("EPSG:4326").to_file(tmp, driver="GeoJSON", WRITE_NAME="NO")
    by_ring = out.groupby("ring", sort=False)["area_m2"].sum() / 1e6
    text = (f"wrote {len(out)} rings ({len(hotspots)} hotspots × {len(distances)}) to {args.out}; "
            + ", ".join(f"{r} m: {a:.3f} km²" for r, a in by_ring.items())
            + f"; neighbours {args.neighbours}")
    data = {"output": str(args.out), "hotspots": len(hotspots), "distances_m": list(distances),
            "neighbours": args.neighbours, "area_km2_by_ring": {r: round(a, 6) for r, a in by_ring.items()}}
    return Output(text, data)


def _build(args: argparse.Namespace) -> Output:
    config = _config(args)
    _check_outputs(args)
    crs = _crs(args, config)
    boundary = _boundary(args, config, None, crs)
    if boundary is None:
        raise UsageError("building hotspots needs the force boundary", where="hotspots build",
                         fix="pass --boundary FILE (or set [hotspots] boundary in the config)")
    districts = (read_districts(args.districts, name_column=args.district_column, crs=crs)
                 if args.districts else None)
    crimes, note = _crimes(args, crs)
    result = build_hotspots(crimes, boundary, districts=districts, n=args.n,
                            area_share=_share(args.share), cell_size_m=args.cell_size,
                            max_radius_cells=args.max_radius, min_separation_cells=args.min_separation,
                            crime_types=_types(args))
    out = result.write(args.out, inputs=_input_files(args))
    data = result.to_dict()
    data["output"] = str(out)
    data["crimes_quarantined"] = crimes.quarantine.counts()
    return Output(f"{result.summary()}\n{note}\nwrote {out}", data)


def _share(text: str) -> float:
    raw = str(text).strip()
    try:
        value = float(raw.rstrip("%")) / (100.0 if raw.endswith("%") else 1.0)
    except ValueError:
        raise UsageError("--share is not a number", expected="a share such as 1.4% or 0.014",
                         found=repr(text), where="--share", fix="write e.g. --share 1.4%") from None
    if not 0 < value < 1:
        raise UsageError("--share out of range", expected="between 0 and 1 (or 0% and 100%)",
                         found=repr(text), where="--share",
                         fix="write the share as a fraction (0.014) or a percentage (1.4%)")
    return value
