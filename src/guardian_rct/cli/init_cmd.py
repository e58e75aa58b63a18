"""``guardian-rct init``: create the trial store and register the trial."""

from __future__ import annotations

import argparse

from guardian_rct.cli._common import Output, add_common, add_config, config_from_args


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
    from guardian_rct.ledger.store import init_trial

    config = config_from_args(args)
    result = init_trial(config)
    reg = result.registration
    text = {
        "created": f"registered trial '{reg.name}' (seed {reg.seed}, {reg.hotspot_count} hotspots) "
        f"in {result.store}",
        "unchanged": f"trial '{reg.name}' is already registered in {result.store}; nothing changed",
        "amended": f"trial '{reg.name}': recorded an amendment to {', '.join(result.amendments)}",
    }[result.status]
    return Output(text, result.to_dict())
