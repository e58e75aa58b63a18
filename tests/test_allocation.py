import datetime as dt

import pandas as pd
import pytest

from guardian_rct._core.errors import DataError
from guardian_rct.design.allocation import (
    allocation_from_frame,
    read_allocation_csv,
    write_allocation_csv,
)


def _frame():
    return pd.DataFrame({
        "date": ["2023-05-01", "2023-05-01", "2023-05-02", "2023-05-02"],
        "hotspot_id": ["H01", "H02", "H01", "H02"],
        "arm": ["treatment", "control", "control", "treatment"],
        "window_start": ["2023-05-01T15:30:00+01:00", "", "", "2023-05-02T16:00:00+01:00"],
        "window_end": ["2023-05-01T15:45:00+01:00", "", "", "2023-05-02T16:15:00+01:00"],
    })


def test_round_trip(tmp_path):
    alloc = allocation_from_frame(_frame(), hotspot_ids=["H01", "H02"])
    path = write_allocation_csv(alloc, tmp_path / "a.csv", tz="Europe/London")
    again = read_allocation_csv(path)
    pd.testing.assert_frame_equal(alloc.frame, again.frame)
    days, matrix = again.assignment_matrix(["H01", "H02"])
    assert days == [dt.date(2023, 5, 1), dt.date(2023, 5, 2)]
    assert matrix.tolist() == [[True, False], [False, True]]
    assert alloc.frame["window_start"].iloc[0] == pd.Timestamp("2023-05-01T14:30:00Z")


@pytest.mark.parametrize("edit, match", [
    (lambda f: f.assign(arm=["treated", "control", "control", "treatment"]), r"row 1, column 'arm'.*unknown arm"),
    (lambda f: f.assign(hotspot_id=["H01", "H09", "H01", "H02"]), r"row 2, column 'hotspot_id'.*'H09'"),
    (lambda f: f.drop(columns="window_end"), "missing column"),
    (lambda f: f.assign(window_start=["2023-05-01T15:30:00", "", "", "2023-05-02T16:00:00+01:00"]), "without a UTC offset"),
    (lambda f: f.assign(window_start=["", "", "", "2023-05-02T16:00:00+01:00"]), r"row 1.*no patrol window"),
    (lambda f: f.assign(date=["2023-05-01", "2023-05-01", "2023-13-02", "2023-05-02"]), r"row 3, column 'date'"),
    (lambda f: f.assign(date=["2023-05-01", "2023-05-01", "2023-05-01", "2023-05-01"]), "both arms"),
    (lambda f: f.iloc[:0], "no rows"),
])
def test_bad_allocations(edit, match):
    with pytest.raises(DataError, match=match):
        allocation_from_frame(edit(_frame()), hotspot_ids=["H01", "H02"])


def test_dates_outside_trial():
    with pytest.raises(DataError, match="date outside the trial"):
        allocation_from_frame(_frame(), first_day=dt.date(2023, 5, 2), last_day=dt.date(2023, 6, 1))
