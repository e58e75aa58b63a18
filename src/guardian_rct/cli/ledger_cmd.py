"""``guardian-rct ledger ...``: verify the trial ledger, export or import an allocation."""

from __future__ import annotations

import argparse
from pathlib import Path

from guardian_rct.cli._common import Output, add_common, add_config, add_csv_bom, config_from_args


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``ledger`` verb group."""
    parser = sub.add_parser("ledger", help="verify the ledger of published schedules; "
                            "export or import an allocation")
    verbs = parser.add_subparsers(dest="ledger_command", metavar="VERB")

    verify = verbs.add_parser(
        "verify", help="re-check the hash chain and re-derive every draw",
        description="Re-check every published record: the hash chain, the ledger head, the "
        "config and hotspot hashes, and the draw the seed gives for each day. Exits 1 "
        "naming the first bad record.")
    add_config(verify)
    verify.add_argument("--head", metavar="HASH", default=None,
                        help="a head hash noted earlier (e.g. in the daily log) that must "
                        "still be in the ledger")
    verify.add_argument("--no-witness", action="store_true",
                        help="do not check the witness file ([schedule] witness); only for a "
                        "store made before witness files existed")
    add_common(verify)
    verify.set_defaults(handler=_verify)

    export = verbs.add_parser(
        "export", help="write the full allocation (controls included) for an evaluator",
        description="Write every published day, treatment and control, in the allocation "
        "contract (date, hotspot_id, arm, window_start, window_end). The export and the "
        "evaluator's name are recorded in the store before the file is written (atomically; "
        "never over the store, config or hotspot file). Do not share it with officers.")
    add_config(export)
    export.add_argument("--evaluator", required=True, metavar="NAME",
                        help="who receives the allocation (recorded)")
    export.add_argument("--out", required=True, type=Path, metavar="FILE", help="CSV to write")
    add_csv_bom(export)
    add_common(export)
    export.set_defaults(handler=_export)

    imp = verbs.add_parser(
        "import", help="append an allocation made by another tool",
        description="Append the days of an allocation CSV (allocation contract) to the "
        "ledger as imported records; they must continue the ledger without a gap.")
    add_config(imp)
    imp.add_argument("file", type=Path, help="allocation CSV")
    imp.add_argument("--by", metavar="NAME", default=None,
                     help="who is importing (recorded; default: the login name)")
    add_common(imp)
    imp.set_defaults(handler=_import)


def _verify(args: argparse.Namespace) -> Output:
    from guardian_rct.ledger.verify import verify

    result = verify(config_from_args(args), expected_head=args.head, witness=not args.no_witness)
    return Output(result.summary(), result.to_dict(), 0 if result.ok else 1)


def _export(args: argparse.Namespace) -> Output:
    from guardian_rct.ledger.exchange import export_allocation

    result = export_allocation(config_from_args(args), args.out, evaluator=args.evaluator)
    return Output(f"wrote the allocation of {result.first_day} to {result.last_day} "
                  f"({result.rows} rows) to {result.path} for {result.evaluator}; "
                  f"ledger head {result.head_hash}", result.to_dict())


def _import(args: argparse.Namespace) -> Output:
    from guardian_rct.ledger.exchange import import_allocation

    written = import_allocation(config_from_args(args), args.file, imported_by=args.by)
    days = [r.day for r in written]
    text = (f"imported {len(days)} days ({days[0]} to {days[-1]})" if days
            else "nothing to import: every day in the file is already in the ledger")
    return Output(text, {"imported": [d.isoformat() for d in days]})
