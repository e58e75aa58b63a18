"""Work started early for later: background threads give way, imports surface their errors.

``_core.background``: the hash of the inputs and the buffer rings run in threads whose
scheduling priority is lowered, so that on a two-core machine they do not take a core
from the command's own threads; ``cli._common.import_in_background``: the report's
modules are imported while the pings are scored, and an import error is raised where
the modules are needed. The compliance verb must not import the report modules before
it has started reading the pings (checked in a fresh interpreter, so that no other test's
imports hide one).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from guardian_rct._core.background import BACKGROUND_NICE, background_pool, lower_priority
from guardian_rct.cli._common import import_in_background

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice values are Linux's")


def _nice(tid: int) -> int:
    """The nice value of one thread of this process, from /proc (field 19 of stat)."""
    stat = Path(f"/proc/self/task/{tid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[16])


@linux
def test_background_threads_run_at_lowered_priority_and_the_main_thread_does_not():
    main_before = _nice(threading.get_native_id())
    pool = background_pool("test-background")
    try:
        tid, nice, value = pool.submit(lambda: (threading.get_native_id(), _nice(threading.get_native_id()),
                                                sum(range(1000)))).result()
    finally:
        pool.shutdown()
    assert value == 499500  # the work itself runs and returns its result
    assert tid != threading.get_native_id()
    assert nice == min(19, main_before + BACKGROUND_NICE)
    assert _nice(threading.get_native_id()) == main_before  # only the pool's thread was changed


@linux
def test_lowering_priority_touches_only_the_calling_thread():
    seen: dict[str, int] = {}

    def other():
        seen["before"] = _nice(threading.get_native_id())
        lower_priority()
        seen["after"] = _nice(threading.get_native_id())

    main_before = _nice(threading.get_native_id())
    thread = threading.Thread(target=other)
    thread.start()
    thread.join()
    assert seen["after"] == min(19, seen["before"] + BACKGROUND_NICE)
    assert _nice(threading.get_native_id()) == main_before
    assert os.getpriority(os.PRIO_PROCESS, 0) == main_before  # the process (main thread) as it was


def test_background_imports_are_done_when_waited_for():
    name = "guardian_rct.reports.qgis_styles"
    sys.modules.pop(name, None)
    wait = import_in_background(name)
    wait()
    assert name in sys.modules
    wait()  # waiting twice is harmless


def test_a_failed_background_import_is_raised_where_the_modules_are_needed():
    wait = import_in_background("guardian_rct.no_such_module_for_this_test")
    with pytest.raises(ModuleNotFoundError, match="no_such_module_for_this_test"):
        wait()


_PROBE = """
import json, sys
import guardian_rct.compliance.ping_assignment as pa
from guardian_rct.cli import main
seen = {}
original = pa.ping_options_for
def probe(*args, **kwargs):
    seen.update({m: m in sys.modules for m in ("matplotlib", "jinja2", "guardian_rct.reports.weekly",
                                                "guardian_rct.jobs.weekly")})
    return original(*args, **kwargs)
pa.ping_options_for = probe
code = main(sys.argv[1:])
print(json.dumps({"code": code, "seen": seen}))
"""


def test_compliance_imports_the_report_modules_only_after_it_starts_on_the_pings(tmp_path):
    from test_compliance_report import _make_trial

    made = _make_trial(tmp_path)
    out = tmp_path / "report"
    done = subprocess.run([sys.executable, "-c", _PROBE, "compliance", "--config", str(made["config"]),
                           "--pings", str(made["pings"]), "--allocation", str(made["allocation"]),
                           "--week", "2023-W18", "--out", str(out), "--quiet"],
                          capture_output=True, text=True, check=True, cwd=Path(__file__).parent)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["code"] == 0
    assert result["seen"] == {"matplotlib": False, "jinja2": False, "guardian_rct.reports.weekly": False,
                              "guardian_rct.jobs.weekly": False}
    assert (out / "weekly_compliance.html").is_file() and (out / "weekly_compliance.gpkg").is_file()
