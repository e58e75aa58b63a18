"""Stable codes for identifiers met across chunks (compliance.ping_assignment.Codes and
TrackCodes), from a chunk's dictionary entries and indices: the codes that coding each
ping's text would give, across chunks whose dictionaries differ."""

from __future__ import annotations

import numpy as np

from guardian_rct.compliance.ping_assignment import Codes, TrackCodes

_SEP = "\x1f"


def _chunks(rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
    """(dictionary entries, indices) per chunk: entries in a different order in each chunk,
    some equal as text (two "PC1"), some never used."""
    out = []
    for size in (0, 1, 50, 400):
        words = rng.permutation(np.array(["PC9", "PC1", "", "van 3", "PC1", "Z", "unused"], dtype=object))
        used = np.flatnonzero(words != "unused")
        out.append((words, rng.choice(used, size).astype(np.int32)))
    return out


def test_codes_of_indices_are_the_codes_of_the_text():
    rng = np.random.default_rng(5)
    fast, plain = Codes(), Codes()
    for words, indices in _chunks(rng):
        got = fast.encode_indices(words, indices)
        np.testing.assert_array_equal(got, plain.encode(words[indices]))
        assert got.dtype == np.int32
    assert fast.values == plain.values and "unused" not in fast.values
    assert len(fast.values) == 5  # codes were given across chunks, in order of appearance


def test_track_codes_are_the_codes_of_the_device_officer_labels():
    rng = np.random.default_rng(8)
    tracks, labels = TrackCodes(), Codes()
    for (dev_words, dev), (off_words, off) in zip(_chunks(rng), _chunks(rng), strict=True):
        got = tracks.encode_indices((dev_words, dev), (off_words, off))
        text = np.array([d + _SEP + o for d, o in zip(dev_words[dev], off_words[off], strict=True)], dtype=object)
        np.testing.assert_array_equal(got, labels.encode(text))
    assert list(tracks.labels()) == labels.values


def test_first_seen_is_the_order_of_first_appearance_and_refuses_indices_out_of_range():
    import pandas as pd
    import pytest

    from guardian_rct.compliance.code_kernels import first_seen

    rng = np.random.default_rng(3)
    for n in (1, 7, 300):
        indices = rng.integers(0, n, 1000).astype(np.int32)
        np.testing.assert_array_equal(first_seen(indices, n), pd.factorize(indices, sort=False)[1])
    assert len(first_seen(np.empty(0, dtype=np.int32), 4)) == 0
    for bad in (-1, 4):
        with pytest.raises(IndexError):
            first_seen(np.array([0, bad], dtype=np.int32), 4)
