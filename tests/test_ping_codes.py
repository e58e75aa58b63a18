"""Stable codes for identifiers met across chunks (compliance.ping_assignment.Codes)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from guardian_rct.compliance.ping_assignment import Codes, TrackCodes


def _chunks(rng: np.random.Generator) -> list[tuple[pd.Series, np.ndarray]]:
    words = np.array(["PC9", "PC1", "", "van 3", "PC1 ", "Z"], dtype=object)
    out = []
    for size in (0, 1, 50, 400):
        values = pd.Series(pd.Categorical(words[rng.integers(0, len(words), size)],
                                          categories=["Z", "van 3", "PC1", "", "PC9", "PC1 ", "unused"]))
        rows = np.sort(rng.choice(size, size // 2, replace=False)) if size else np.empty(0, dtype=np.int64)
        out.append((values, rows))
    return out


def test_encode_rows_of_a_categorical_matches_encode_of_the_taken_rows():
    rng = np.random.default_rng(5)
    fast, plain = Codes(), Codes()
    for values, rows in _chunks(rng):
        got = fast.encode_rows(values, rows)
        expected = plain.encode(values.iloc[rows])
        np.testing.assert_array_equal(got, expected)
        assert got.dtype == np.int32
    assert fast.values == plain.values and "unused" not in fast.values
    assert len(fast.values) >= 5  # codes were given across chunks, in order of appearance


def test_encode_rows_of_text_and_of_missing_categories_fall_back_to_encode():
    codes = Codes()
    text = pd.Series(["a", "b", "a", "c"])
    np.testing.assert_array_equal(codes.encode_rows(text, np.array([3, 0, 2])), [0, 1, 1])
    with_missing = pd.Series(pd.Categorical(["a", None, "b"]))
    np.testing.assert_array_equal(Codes().encode_rows(with_missing, np.array([0, 1, 2])),
                                  Codes().encode(with_missing))


@pytest.mark.parametrize("with_rows", [True, False])
def test_track_codes_with_rows_match_the_taken_rows(with_rows):
    rng = np.random.default_rng(8)
    fast, plain = TrackCodes(), TrackCodes()
    for (device, rows), (officer, _) in zip(_chunks(rng), _chunks(rng), strict=True):
        officer = officer.iloc[: len(device)].reset_index(drop=True)
        if with_rows:
            got = fast.encode(device, officer, rows)
        else:
            got = fast.encode(device.iloc[rows].reset_index(drop=True), officer.iloc[rows].reset_index(drop=True))
        expected = plain.encode(pd.Series(device.iloc[rows].astype(str).to_numpy()),
                                pd.Series(officer.iloc[rows].astype(str).to_numpy()))
        np.testing.assert_array_equal(got, expected)
    assert list(fast.labels()) == list(plain.labels())
