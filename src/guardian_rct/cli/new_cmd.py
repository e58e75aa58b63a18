"""``guardian-rct new DIR``: start a trial folder with a commented ``trial.toml``.

The template lists every key with its default and one line on what it means; it comes
from the config schema's help text (:mod:`guardian_rct.config.reference`), as does
``docs/config.md``. The hotspot file given (default: the shipped illustrative West
Midlands hotspots and force boundary) is copied into the folder, so the trial's inputs
live beside its config. Nothing is overwritten: an existing ``trial.toml`` is refused.
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from guardian_rct._core.errors import UsageError
from guardian_rct.cli._common import Output, add_common, date_arg


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``new`` verb."""
    parser = sub.add_parser(
        "new",
        help="start a trial folder: a commented trial.toml and the hotspot file",
        description="Write DIR/trial.toml (every key, its default and what it means; see "
        "docs/config.md), copy the hotspot file into DIR (default: the shipped West Midlands "
        "hotspots and force boundary), and print the next commands.",
    )
    parser.add_argument("dir", type=Path, metavar="DIR", help="the trial folder (created if needed)")
    parser.add_argument("--hotspots", type=Path, default=None, metavar="FILE",
                        help="hotspot polygons (default: the shipped West Midlands hotspots)")
    parser.add_argument("--boundary", type=Path, default=None, metavar="FILE",
                        help="force boundary (default: the shipped one with the shipped hotspots)")
    parser.add_argument("--name", default=None, help="trial name (default: the folder name)")
    parser.add_argument("--start", type=date_arg, default=None, metavar="YYYY-MM-DD",
                        help="first experimental day (default: tomorrow)")
    parser.add_argument("--days", type=int, default=182, help="length in days (default 182, six months)")
    parser.add_argument("--seed", type=int, default=None,
                        help="the trial seed (default: drawn from the operating system's secure source)")
    add_common(parser)
    parser.set_defaults(handler=_run)


def _shipped(name: str) -> Path:
    from importlib import resources

    return Path(str(resources.files("guardian_rct") / "data" / "demo" / name))


def _copy_in(src: Path, folder: Path, what: str) -> str:
    import shutil

    if not src.is_file():
        raise UsageError(f"{what} file not found", where=str(src), fix=f"check the path given to --{what}")
    dest = folder / src.name
    if dest.exists() and dest.resolve() != src.resolve():
        if dest.read_bytes() != src.read_bytes():
            raise UsageError(f"{dest} exists and differs from {src}", where=str(dest),
                             fix="remove it, or choose another folder (nothing is overwritten)")
    elif not dest.exists():
        shutil.copyfile(src, dest)
    return dest.name


def _run(args: argparse.Namespace) -> Output:
    import secrets

    from guardian_rct.config.reference import trial_toml_template
    from guardian_rct.config.trial_config import load_config
    from guardian_rct.geo.hotspots import read_hotspots

    folder: Path = args.dir
    config_path = folder / "trial.toml"
    if config_path.exists():
        raise UsageError("a trial.toml already exists", where=str(config_path),
                         fix="choose a new folder; an existing trial's config is never overwritten")
    if args.days < 1:
        raise UsageError("--days must be at least 1", found=str(args.days), where="--days",
                         fix="give the trial's length in days, e.g. 182")
    hotspots_src = args.hotspots or _shipped("hotspots.geojson")
    boundary_src = args.boundary or (_shipped("force_boundary.geojson") if args.hotspots is None else None)
    hs = read_hotspots(hotspots_src)  # fail now, not at init, on a file that cannot be read
    folder.mkdir(parents=True, exist_ok=True)
    hotspots_name = _copy_in(hotspots_src, folder, "hotspots")
    boundary_name = _copy_in(boundary_src, folder, "boundary") if boundary_src else None
    if args.boundary is None and args.hotspots is None:  # the shipped maps' context, found beside the boundary
        for layer in ("districts.geojson", "wards.geojson"):
            _copy_in(_shipped(layer), folder, "boundary")
    start = args.start or dt.date.today() + dt.timedelta(days=1)
    end = start + dt.timedelta(days=args.days - 1)
    seed = args.seed if args.seed is not None else secrets.randbelow(2**31 - 1) + 1
    blocks = "block" in hs.frame.columns and hs.frame["block"].nunique() > 1
    trial = {"name": f'"{args.name or folder.resolve().name}"', "start_date": start.isoformat(),
             "end_date": end.isoformat(), "seed": str(seed)}
    spots = {"path": f'"{hotspots_name}"'}
    if blocks:
        spots["block_column"] = '"block"'
    if boundary_name:
        spots["boundary"] = f'"{boundary_name}"'
    values = {"trial": trial, "hotspots": spots, "design": {"treated_per_day": str(max(1, len(hs) // 2))},
              "evaluation": {"outcomes": '["all_crime", "violence"]'}}
    config_path.write_text(trial_toml_template(values), encoding="utf-8")
    config = load_config(config_path)  # the template must load; a failure here is our bug
    c = str(config_path)
    commands = [f"guardian-rct init --config {c}",
                f"guardian-rct schedule --config {c} --date {start} --out {folder / 'tasking'}",
                f"guardian-rct status --config {c}"]
    text = "\n".join([f"wrote {config_path} ({len(hs)} hotspots, {start} to {end}, "
                      f"{config.design.treated_per_day} patrolled a day; edit it before init)",
                      f"copied {hotspots_name}" + (f" and {boundary_name}" if boundary_name else "")
                      + f" into {folder}", "next:", *(f"  {cmd}" for cmd in commands)])
    return Output(text, {"config": c, "hotspots": str(folder / hotspots_name), "start_date": start.isoformat(),
                         "end_date": end.isoformat(), "next": commands})
