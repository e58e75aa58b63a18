"""Nothing officer- or analyst-facing reveals the future: no seed, no arm after today."""

import datetime as dt
import json
import sqlite3

import pytest
from attack_fixtures import NOW, START, cli, trial

from guardian_rct._core.errors import StoreError
from guardian_rct._core.provenance import make_provenance
from guardian_rct.config.trial_config import load_config
from guardian_rct.ledger.exchange import export_allocation
from guardian_rct.ledger.pseudonym import seed_key
from guardian_rct.ledger.publish import publish_range, published_allocation
from guardian_rct.ledger.store import init_trial


def test_provenance_never_carries_the_seed(tmp_path):
    cfg = trial(tmp_path)
    keyed = make_provenance(seed=cfg.trial.seed, seed_key=seed_key(cfg.trial.store)).to_dict()
    text = json.dumps(keyed)
    assert str(cfg.trial.seed) not in text and "seed" not in {k for k in keyed if k != "seed_fingerprint"}
    assert len(keyed["seed_fingerprint"]) == 16
    # the fingerprint is stable within the trial and differs for another seed
    again = make_provenance(seed=cfg.trial.seed, seed_key=seed_key(cfg.trial.store)).seed_fingerprint
    other = make_provenance(seed=cfg.trial.seed + 1, seed_key=seed_key(cfg.trial.store)).seed_fingerprint
    assert again == keyed["seed_fingerprint"] != other


def test_fingerprint_cannot_be_inverted_by_hashing_candidate_seeds(tmp_path):
    import hashlib

    cfg = trial(tmp_path)
    fp = make_provenance(seed=cfg.trial.seed, seed_key=seed_key(cfg.trial.store)).seed_fingerprint
    seed = cfg.trial.seed
    unkeyed = {hashlib.sha256(f"{s}".encode()).hexdigest()[:16] for s in range(seed - 5, seed + 5)}
    unkeyed |= {hashlib.sha256(b"guardian_rct trial seed\x00" + str(s).encode()).hexdigest()[:16]
                for s in range(seed - 5, seed + 5)}
    assert fp not in unkeyed


def test_published_future_days_are_not_read_back_before_their_day(tmp_path):
    cfg = trial(tmp_path)
    publish_range(cfg, START, START + dt.timedelta(days=7), now=NOW)  # a week ahead, in the horizon
    today_only = published_allocation(cfg, now=NOW)
    assert list(today_only.days) == [START]
    with pytest.raises(StoreError, match="no published schedules"):
        published_allocation(cfg, first=START + dt.timedelta(days=1), now=NOW)
    assert len(published_allocation(cfg, include_future=True).days) == 8


def test_evaluator_export_is_recorded_before_the_file_and_fails_without_record(tmp_path):
    cfg = trial(tmp_path)
    publish_range(cfg, START, START + dt.timedelta(days=2), now=NOW)
    out = tmp_path / "alloc.csv"
    holder = sqlite3.connect(cfg.trial.store, timeout=0.1, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another process holds the store
    try:
        import guardian_rct.ledger.store as store_module
        original = store_module.sqlite3.connect
        store_module.sqlite3.connect = lambda *a, **k: original(*a, **{**k, "timeout": 0.2})
        try:
            with pytest.raises(StoreError):
                export_allocation(cfg, out, evaluator="Dr E", now=NOW)
        finally:
            store_module.sqlite3.connect = original
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert not out.exists() and not list(tmp_path.glob(".alloc.csv.*"))
    export_allocation(cfg, out, evaluator="Dr E", now=NOW)
    assert out.exists()


def test_export_over_the_store_is_refused_and_the_store_survives(tmp_path, capsys):
    cfg = trial(tmp_path)
    publish_range(cfg, START, START + dt.timedelta(days=1), now=NOW)
    for target in (cfg.trial.store, cfg.source, cfg.hotspots.path, cfg.witness_path):
        code, text = cli(capsys, "ledger", "export", "--config", cfg.source, "--evaluator", "E",
                         "--out", target)
        assert code == 2 and "refusing to write over" in text and "internal error" not in text
    from guardian_rct.ledger.verify import verify
    assert verify(cfg).ok


@pytest.mark.parametrize("key, value", [("hotspots", ""),
                                        ("schedule", "horizon_days = 400")])
def test_changing_a_protected_key_is_refused_not_amended(tmp_path, key, value):
    cfg = trial(tmp_path)
    publish_range(cfg, START, START, now=NOW)
    text = cfg.source.read_text()
    if key == "hotspots":
        text = text.replace('block_column = "block"', value)
    else:
        text += f"\n[schedule]\n{value}\n"
    cfg.source.write_text(text)
    with pytest.raises(StoreError, match="part of the registered design"):
        init_trial(load_config(cfg.source))
    with pytest.raises(StoreError, match="part of the registered design"):
        publish_range(load_config(cfg.source), START, START + dt.timedelta(days=1), now=NOW)


def test_an_unprotected_change_is_still_an_amendment(tmp_path):
    cfg = trial(tmp_path)
    cfg.source.write_text(cfg.source.read_text() + "\n[compliance]\narrival_within_hours = 12\n")
    result = init_trial(load_config(cfg.source))
    assert result.status == "amended" and any(a.startswith("compliance") for a in result.amendments)


def test_weekly_report_files_carry_a_fingerprint_not_the_seed(tmp_path):
    from guardian_rct.cli import main
    from test_compliance_report import _make_trial

    made = _make_trial(tmp_path)
    seed = str(load_config(made["config"]).trial.seed)
    out = tmp_path / "report"
    code = main(["compliance", "--config", str(made["config"]), "--pings", str(made["pings"]),
                 "--allocation", str(made["allocation"]), "--week", "2023-W18", "--out", str(out)])
    assert code == 0
    files = [p for p in out.rglob("*") if p.is_file() and p.suffix in (".html", ".json", ".csv")]
    assert files and not [p.name for p in files if seed in p.read_text(errors="replace")]
    report = json.loads(next(out.rglob("*.json")).read_text())
    text = json.dumps(report)
    assert '"seed_fingerprint": "' in text and '"seed":' not in text


def test_schedule_balance_leaves_out_days_published_ahead(tmp_path):
    from guardian_rct.ledger.published_balance import balance_summary

    cfg = trial(tmp_path)
    publish_range(cfg, START, START + dt.timedelta(days=7), now=NOW)
    assert balance_summary(cfg, now=NOW).n_days == 1
    assert balance_summary(cfg, now=NOW + dt.timedelta(days=7)).n_days == 8
