"""``guardian-rct init``: create the trial store and register the trial."""

from __future__ import annotations

import argparse

from guardian_rct.cli._common import Output, add_common, add_config, config_from_args
from guardian_rct.ledger.store import init_trial


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``init`` verb."""
    parser = sub.add_parser(
        "init",
        help="create the trial store and register the trial",
        description="Create the embedded SQLite trial store and record the config, the seed "
        "and the hotspot file's SHA-256, after proving the design can run (the hotspot checks "
        "and a dry-run draw of every trial day). Re-running on an unchanged trial does "
        "nothing; a changed seed, hotspot file, calendar, blocks, horizon or design is refused.",
    )
    add_config(parser)
    parser.add_argument("--replace-unpublished", action="store_true",
                        help="replace a mistaken registration that has published, imported and "
                        "exported nothing (what it replaced is recorded in the store)")
    add_common(parser)
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> Output:
    config = config_from_args(args)
    result = init_trial(config, replace_unpublished=args.replace_unpublished)
    reg = result.registration
    text = {
        "created": f"registered trial '{reg.name}' (seed {reg.seed}, {reg.hotspot_count} hotspots) "
        f"in {result.store}",
        "unchanged": f"trial '{reg.name}' is already registered in {result.store}; nothing changed",
        "amended": f"trial '{reg.name}': recorded an amendment to {', '.join(result.amendments)}",
        "replaced": f"replaced the unpublished registration of trial '{reg.name}' "
        f"({'; '.join(result.amendments)}); the old registration is recorded in the store",
    }[result.status]
    return Output(text, result.to_dict())
