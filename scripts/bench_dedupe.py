"""Benchmark: exact-duplicate detection of a week's ping keys against one sort of them all.

Feeds a week's duplicate keys chunk by chunk, in reading order, through
:class:`~guardian_rct.compliance.ping_dedupe.Deduplicator` (``prepare`` then ``resolve``, as
the scoring pipeline does, then ``close``) and prints, for each of ``--repeats`` runs, the
wall time, the process CPU time (``resource.getrusage``: all threads, the merge thread's
too), the CPU time of the threads other than the caller's (``merge_cpu``: the background merges),
the wall time spent in ``prepare`` and in ``resolve`` (``resolve`` is the serial stage of
the pipeline), the number of duplicates found and the set's peak bytes (bitmap, runs and
the merges under way, counted after each chunk); then the same for two floors that see all
the keys at once (no streaming): ``np.sort`` of them and a count of equal neighbours (one
sort), and ``np.unique`` (which in numpy 2.4 is a hash table, not a sort: about 65 s for the
50 M keys, so it is run ``--unique-repeats`` times, once by default, 0 to skip); and the
ratios ours / floor.

Usage::

    python scripts/bench_dedupe.py                      # the real 50 M-ping week's keys
    python scripts/bench_dedupe.py --keys other.npz     # keys (uint64) and chunk_sizes
    python scripts/bench_dedupe.py --synthetic 5000000  # a synthetic week (no file needed)
    python scripts/bench_dedupe.py --keys week.npz --from-week /tmp/guardian-bench-week/n50000000
        # first write the keys of a bench_week.py week (its trial.toml and pings.parquet),
        # chunk by chunk as the scoring pipeline checks them, into week.npz
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from guardian_rct.compliance.ping_dedupe import SLOT_BITS, Deduplicator  # noqa: E402

DEFAULT_KEYS = Path("/work/bench-data/h14/keys-50M-week.npz")
_CHUNK = 250_000


def synthetic_week(n: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """``n`` keys in chunks of 250 000 the way a file written by device reads: each chunk
    covers about 17 time slots (a day of a few devices) plus a few stray late pings in other
    slots, with 0.3% exact copies of a recent key (half in the same chunk)."""
    rng = np.random.default_rng(seed)
    top = np.uint64(64 - SLOT_BITS)
    chunks = []
    made = 0
    while made < n:
        size = min(_CHUNK, n - made)
        first_slot = (len(chunks) * 64) // max(1, n // _CHUNK)
        slots = (first_slot + rng.integers(0, 17, size)) % 64
        stray = rng.random(size) < 2e-4
        slots[stray] = rng.integers(0, 64, int(stray.sum()))
        low = rng.integers(0, 1 << 58, size, dtype=np.int64).astype(np.uint64)
        keys = low | (slots.astype(np.uint64) << top)
        copies = rng.random(size) < 0.003
        if chunks:
            pool = np.concatenate([chunks[-1], keys[: size // 2]])
        else:
            pool = keys[: size // 2]
        keys[copies] = pool[rng.integers(0, len(pool), int(copies.sum()))]
        chunks.append(keys)
        made += size
    return np.concatenate(chunks), np.array([len(c) for c in chunks], dtype=np.int64)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _held_bytes(dedup: Deduplicator) -> int:
    """Bytes the set holds now: its bitmap, its runs, the output of each merge under way and
    its reused buffer."""
    runs = sum(run.nbytes for runs in dedup._parts.values() for run in runs)
    merging = sum(first.nbytes + second.nbytes for _, _, first, second in dedup._pending.values())
    scratch = getattr(dedup, "_scratch", np.empty(0)).nbytes  # resolve's reused buffer (none before)
    return dedup._bitmap.nbytes + runs + merging + scratch


def run_ours(keys: np.ndarray, sizes: np.ndarray) -> dict[str, float]:
    """One pass of the streaming set over the chunks; timings and the duplicates found."""
    bounds = np.r_[0, np.cumsum(sizes)]
    chunks = [keys[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    wall0, cpu0, main0 = time.perf_counter(), _cpu(), time.thread_time()
    t_prepare = t_resolve = 0.0
    found = peak = 0
    with Deduplicator() as dedup:
        for chunk in chunks:
            t0 = time.perf_counter()
            prepared = dedup.prepare(chunk)
            t1 = time.perf_counter()
            dup = dedup.resolve(prepared)
            t_resolve += time.perf_counter() - t1
            t_prepare += t1 - t0
            found += int(dup.sum())
            peak = max(peak, _held_bytes(dedup))
    main = time.thread_time() - main0
    cpu = _cpu() - cpu0
    return {"wall": time.perf_counter() - wall0, "cpu": cpu, "merge_cpu": cpu - main, "prepare": t_prepare,
            "resolve": t_resolve, "dups": found, "peak_mb": peak / 2**20}


def run_floor(keys: np.ndarray, how: str) -> dict[str, float]:
    """All the keys at once, no streaming: the duplicates' count from one ``np.sort`` (equal
    neighbours) or from ``np.unique``."""
    wall0, cpu0 = time.perf_counter(), _cpu()
    if how == "sort":
        ordered = np.sort(keys)
        dups = int(np.count_nonzero(ordered[1:] == ordered[:-1]))
    else:
        dups = len(keys) - len(np.unique(keys))
    return {"wall": time.perf_counter() - wall0, "cpu": _cpu() - cpu0, "dups": dups}


def _summary(values: list[float]) -> str:
    return f"min {min(values):7.3f}  median {statistics.median(values):7.3f}  max {max(values):7.3f}"


def write_week_keys(week: Path, out: Path) -> int:
    """The duplicate keys of a ``bench_week.py`` week's pings (``week``: its folder),
    chunk by chunk as ``guardian-rct compliance`` checks them (the checks and the key of
    each usable row), saved as ``keys`` and ``chunk_sizes`` into ``out``; returns the
    number of keys."""
    from guardian_rct.compliance.check_kernels import usable_columns
    from guardian_rct.compliance.ping_assignment import ping_options_for
    from guardian_rct.compliance.ping_dedupe import duplicate_key
    from guardian_rct.compliance.ping_validation import check_rows, full_text
    from guardian_rct.compliance.pings import iter_raw_chunks
    from guardian_rct.config.trial_config import load_config
    from guardian_rct.ledger.store import load_trial_hotspots

    config = load_config(week / "trial.toml")
    options = ping_options_for(load_trial_hotspots(config), config.compliance)
    chunks = []
    for first, raw, cols in iter_raw_chunks(week / "pings.parquet", options.chunk_rows):
        c = check_rows(raw, cols, source=week / "pings.parquet", first_row=first, options=options)
        key = duplicate_key(c.device, full_text(c.officer, c.n_read), full_text(c.team, c.n_read), c.ns, c.a, c.b,
                            c.accuracy)
        chunks.append(usable_columns(c.code, c.ns, c.a, c.b, key)[4])
    np.savez(out, keys=np.concatenate(chunks), chunk_sizes=np.array([len(k) for k in chunks]))
    return sum(len(k) for k in chunks)


def _load(args: argparse.Namespace, parser: argparse.ArgumentParser) -> tuple[np.ndarray, np.ndarray, str]:
    if args.from_week is not None and not args.child:
        if args.keys.exists():
            parser.error(f"{args.keys} exists: --from-week writes a new keys file (give another --keys)")
        print(f"wrote {write_week_keys(args.from_week, args.keys):,} keys of {args.from_week} to {args.keys}")
    if args.synthetic:
        keys, sizes = synthetic_week(args.synthetic)
        return keys, sizes, f"synthetic week of {len(keys):,} keys"
    if not args.keys.is_file():
        parser.error(f"{args.keys}: no such file (use --synthetic N to run without it, or --from-week DIR "
                     "to write it from a bench_week.py week)")
    with np.load(args.keys) as data:
        keys, sizes = data["keys"].astype(np.uint64, copy=False), data["chunk_sizes"]
    return keys, sizes, f"{args.keys} ({len(keys):,} keys)"


def _ours_in_a_fresh_process(argv: list[str]) -> dict[str, float]:
    """One run of ours in a new process, as a scoring run meets it: the allocator's memory
    not yet reused from an earlier run (a second run in one process had a tenth of the page
    faults and ran about 25% faster)."""
    done = subprocess.run([sys.executable, __file__, *argv, "--child"], check=True, capture_output=True, text=True)
    return json.loads(done.stdout.splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=Path, default=DEFAULT_KEYS, help="an .npz with keys and chunk_sizes")
    parser.add_argument("--synthetic", type=int, metavar="N", help="a synthetic week of N keys instead")
    parser.add_argument("--from-week", type=Path, metavar="DIR",
                        help="first write --keys from the pings of this bench_week.py week folder")
    parser.add_argument("--repeats", type=int, default=3, help="runs of ours (each in a new process) and of np.sort")
    parser.add_argument("--unique-repeats", type=int, default=1, help="runs of the np.unique floor")
    parser.add_argument("--mallopt", action="store_true",
                        help="tune glibc malloc to reuse freed blocks first, as score_pings does")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    keys, sizes, source = _load(args, parser)
    if args.child:
        if args.mallopt:  # as score_pings does for the local engine
            from guardian_rct._core.memory import reuse_freed_memory

            reuse_freed_memory()
        with Deduplicator() as warm:  # compile or load the kernels outside the timings
            warm.duplicates(keys[:1000])
        print(json.dumps(run_ours(keys, sizes)))
        return 0
    print(f"{source} in {len(sizes)} chunks; {args.repeats} runs each")
    ours = [_ours_in_a_fresh_process([a for a in argv if a != "--child"]) for _ in range(args.repeats)]
    floors = {"np.sort": [run_floor(keys, "sort") for _ in range(args.repeats)],
              "np.unique": [run_floor(keys, "unique") for _ in range(args.unique_repeats)]}
    counts = {r["dups"] for r in ours + floors["np.sort"] + floors["np.unique"]}
    if len(counts) != 1:
        print(f"MISMATCH: duplicates found {[r['dups'] for r in ours]}, floors {counts}")
        return 1
    print(f"duplicates found: {ours[0]['dups']:,} (the floors' count too)")
    for name in ("wall", "cpu", "merge_cpu", "prepare", "resolve"):
        print(f"ours       {name:9s} s  {_summary([r[name] for r in ours])}")
    print(f"ours       peak     MB  {_summary([r['peak_mb'] for r in ours])}")
    for floor, runs in floors.items():
        if not runs:
            continue
        for name in ("wall", "cpu"):
            print(f"{floor:10s} {name:9s} s  {_summary([r[name] for r in runs])}")
        for name in ("wall", "cpu"):
            ratio = min(r[name] for r in ours) / min(r[name] for r in runs)
            print(f"ours / {floor} ({name}, min over runs): {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
