"""Issue 12, item 10: the exported panel round-trips into the estimators."""

from __future__ import annotations

import pytest

from guardian_rct._core.errors import DataError
from guardian_rct.crimes.panel_io import read_panel
from guardian_rct.estimation.itt import itt_estimates


def test_written_panel_gives_the_same_estimates_and_empty_p_treated_is_refused(tmp_path):
    import test_milestone_report as tm

    panel = tm.built_trial().panel
    assert panel.frame["p_treated"].notna().all()
    paths = panel.write(tmp_path)
    want = [e.to_dict() for e in itt_estimates(panel, "violence")]
    for source in (tmp_path, paths["panel_csv"]):
        got = [e.to_dict() for e in itt_estimates(read_panel(source), "violence")]
        assert [g["estimate"] for g in got] == pytest.approx([w["estimate"] for w in want], rel=1e-9)
        assert [g["std_error"] for g in got] == pytest.approx([w["std_error"] for w in want], rel=1e-9)
    frame = panel.frame.copy()
    frame["p_treated"] = float("nan")
    frame.to_parquet(tmp_path / "broken.parquet", index=False)
    with pytest.raises(DataError, match="p_treated"):
        read_panel(tmp_path / "broken.parquet")
