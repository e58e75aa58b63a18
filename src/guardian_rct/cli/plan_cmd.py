"""``guardian-rct plan``: write the statistical analysis plan, or check a copy against the store."""

from __future__ import annotations

import argparse
from pathlib import Path

from guardian_rct.cli._common import Output, UsageExit, add_common, add_config, config_from_args


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``plan`` verb."""
    parser = sub.add_parser(
        "plan",
        help="write the statistical analysis plan (HTML, Markdown, JSON) or verify a copy",
        description="Write the trial's statistical analysis plan as analysis_plan.html (print-ready), "
        "analysis_plan.md and analysis_plan.json (canonical; its SHA-256 is sealed in the trial store) "
        "into --out: the plan in force from the store, or a draft when the trial is not registered. "
        "With --verify FILE, check that a copy (HTML, Markdown or JSON) is true to the store.",
    )
    add_config(parser)
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--out", type=Path, metavar="DIR", help="folder for the plan documents")
    action.add_argument("--verify", type=Path, metavar="FILE", help="a copy of the plan to check")
    add_common(parser)
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> Output:
    from guardian_rct.jobs.plan import verify_plan_file, write_plan

    config = config_from_args(args)
    if args.verify is not None:
        if not args.verify.is_file():
            raise UsageExit(f"guardian-rct plan: --verify {args.verify}: no such file")
        check = verify_plan_file(config, args.verify)
        return Output(("plan OK: " if check.ok else "plan FAILED: ") + check.message, check.to_dict(),
                      exit_code=0 if check.ok else 1)
    result = write_plan(config, args.out)
    v = result.version
    text = (f"{'draft ' if v.status == 'draft' else ''}analysis plan (version {v.version}, SHA-256 {v.sha256}) "
            f"written to {args.out}")
    text += "".join(f"\nnote: {n}" for n in result.notes)
    return Output(text, result.to_dict())
