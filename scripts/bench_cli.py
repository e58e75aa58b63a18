"""Start-up time of ``guardian-rct --help`` (and a verb's ``--help``) against ``python -c pass``.

Runs each command several times in fresh interpreters, alternating them so that load on
a shared machine hits both alike, and prints the medians and their ratio. The issue's
baseline (before lazy verb loading) was 2.2 s for ``guardian-rct --help``.

    python scripts/bench_cli.py [--runs 15]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "guardian-rct --help": [sys.executable, "-m", "guardian_rct", "--help"],
    "guardian-rct evaluate --help": [sys.executable, "-m", "guardian_rct", "evaluate", "--help"],
    "guardian-rct hotspots build --help": [sys.executable, "-m", "guardian_rct", "hotspots", "build", "--help"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(args.runs):
        for name, command in COMMANDS.items():
            start = time.perf_counter()
            subprocess.run(command, stdout=subprocess.DEVNULL, check=True)
            times[name].append(time.perf_counter() - start)
    base = statistics.median(times["python -c pass"])
    print(f"median of {args.runs} runs (s), and ratio to `python -c pass`:")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:<36} {median:7.3f}  x{median / base:5.1f}")
    help_median = statistics.median(times["guardian-rct --help"])
    print(f"guardian-rct --help: {help_median:.3f} s = {help_median / 2.2:.1%} of the 2.2 s before "
          f"(target: under 10%)")


if __name__ == "__main__":
    main()
