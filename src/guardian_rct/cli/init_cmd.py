"""``guardian-rct init``: create the trial store and register the trial."""

from __future__ import annotations

import argparse

from guardian_rct._core.errors import ConfigError
from guardian_rct.cli._common import Output, add_common, add_config, config_from_args
from guardian_rct.design.diagnosis import diagnose_design
from guardian_rct.design.factory import design_from_config
from guardian_rct.ledger.store import init_trial, load_trial_hotspots


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``init`` verb."""
    parser = sub.add_parser(
        "init",
        help="create the trial store and register the trial",
        description="Create the embedded SQLite trial store and record the config, the seed "
        "and the hotspot file's SHA-256. Re-running on an unchanged trial does nothing; a "
        "changed seed, hotspot file, calendar or design is refused.",
    )
    add_config(parser)
    add_common(parser)
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> Output:
    config = config_from_args(args)
    hotspots = load_trial_hotspots(config)
    diagnosis = diagnose_design(design_from_config(config, hotspots))
    if diagnosis.refuse:  # a fixed rotation is not a randomised design (issue 12, item 4)
        raise ConfigError("the design is not random enough to register", found=diagnosis.warnings[0],
                          where="design", fix="relax max_consecutive_control_days or treat fewer a day")
    result = init_trial(config, hotspots=hotspots)
    reg = result.registration
    text = {
        "created": f"registered trial '{reg.name}' (seed {reg.seed}, {reg.hotspot_count} hotspots) "
        f"in {result.store}",
        "unchanged": f"trial '{reg.name}' is already registered in {result.store}; nothing changed",
        "amended": f"trial '{reg.name}': recorded an amendment to {', '.join(result.amendments)}",
    }[result.status]
    text += "\n" + diagnosis.summary()
    return Output(text, {**result.to_dict(), "design_diagnosis": diagnosis.to_dict()})
