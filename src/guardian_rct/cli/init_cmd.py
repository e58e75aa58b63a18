"""``guardian-rct init``: create the trial store and register the trial."""

from __future__ import annotations

import argparse
from pathlib import Path

from guardian_rct.cli._common import Output, add_common, add_config, config_from_args
from guardian_rct.jobs.plan import register_trial


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``init`` verb."""
    parser = sub.add_parser(
        "init",
        help="create the trial store and register the trial",
        description="Create the embedded SQLite trial store and record the config, the seed "
        "and the hotspot file's SHA-256, and seal the statistical analysis plan built from the "
        "config (written as analysis_plan.html/.md/.json beside the store). Re-running on an "
        "unchanged trial does nothing; a changed seed, hotspot file, calendar or design is "
        "refused; a changed analysis section is recorded as a numbered plan amendment.",
    )
    add_config(parser)
    parser.add_argument("--plan-out", type=Path, default=None, metavar="DIR",
                        help="folder for the plan documents (default: analysis_plan/ beside the store)")
    add_common(parser)
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> Output:
    config = config_from_args(args)
    registered = register_trial(config, plan_dir=args.plan_out)
    result = registered.init
    reg = result.registration
    text = {
        "created": f"registered trial '{reg.name}' (seed {reg.seed}, {reg.hotspot_count} hotspots) "
        f"in {result.store}",
        "unchanged": f"trial '{reg.name}' is already registered in {result.store}; nothing changed",
        "amended": f"trial '{reg.name}': recorded an amendment to {', '.join(result.amendments)}",
    }[result.status]
    if result.plan_amendment is not None:
        a = result.plan_amendment
        text += f"\nplan amendment {a.number} ({a.label()}): plan SHA-256 {a.plan_sha256}"
    if registered.plan_sha256:
        text += f"\nanalysis plan {registered.plan_sha256} written to {registered.plan_paths['html'].parent}"
    else:
        text += f"\nno sealed analysis plan (trial registered before sealed plans); draft written to " \
                f"{registered.plan_paths['html'].parent}"
    return Output(text, registered.to_dict())
