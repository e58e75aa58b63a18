"""The scoring path keeps exactly what the frame path gives, chunk by chunk: for every raw
chunk, :func:`score_rows` of :func:`check_rows` has the duplicate keys, file rows,
instants, extent, quarantine and (row, hotspot) pairs of :func:`validate_chunk` +
:func:`assign_chunk`, and the identifiers of the in-hotspot pings code to the same track
and team codes; on lat/lon pings located in degrees, projected, and on x/y pings, with
unusable rows, spaces around identifiers and a file without officer or team columns."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from pyproj import Transformer

from conftest import write_trial
from guardian_rct.compliance.chunk_scoring import score_rows
from guardian_rct.compliance.ping_assignment import (
    Codes,
    TrackCodes,
    assign_chunk,
    hotspot_index,
    ping_options_for,
    track_labels,
)
from guardian_rct.compliance.ping_dedupe import Deduplicator
from guardian_rct.compliance.ping_validation import check_rows, validate_chunk
from guardian_rct.compliance.pings import iter_raw_chunks
from guardian_rct.config.trial_config import load_config
from guardian_rct.ledger.store import load_trial_hotspots


def _pings(hotspots, n: int, seed: int, *, metric: bool) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = pd.Timestamp("2023-05-01T15:00:00Z") + pd.to_timedelta(np.sort(rng.integers(0, 86_400, n)), unit="s")
    x = 406000 + rng.uniform(-200, 1400, n)
    y = 286000 + rng.uniform(-200, 1400, n)
    frame = pd.DataFrame({"device_id": rng.choice(["R1", " R1", "R2 ", "R3", ""], n, p=[0.3, 0.2, 0.2, 0.29, 0.01]),
                          "timestamp": t.strftime("%Y-%m-%dT%H:%M:%SZ"),
                          "officer_id": rng.choice(["A", "B ", "", None], n), "team": rng.choice(["T1", "T2", " T1"], n),
                          "accuracy_m": rng.choice([5.0, 20.0, 400.0], n, p=[0.6, 0.38, 0.02])})
    if metric:
        frame["x"], frame["y"] = x, y
        frame.loc[[7, 70], "x"] = np.nan
    else:
        frame["lon"], frame["lat"] = Transformer.from_crs(hotspots.crs, "EPSG:4326", always_xy=True).transform(x, y)
        frame.loc[[5, 50], "lat"] = np.nan
    frame.loc[[9, 90], "timestamp"] = "2023-05-01 16:00"  # no offset
    return pd.concat([frame, frame.iloc[[3, 30, 300]]], ignore_index=True)  # exact duplicates


@pytest.mark.parametrize("case", ["degrees", "projected", "metric", "no-officer-team"])
def test_scored_chunks_keep_what_the_frame_path_gives(tmp_path, case):
    config = load_config(write_trial(tmp_path, extra="[compliance]\ngps_tolerance_m = 5\n"))
    hotspots = load_trial_hotspots(config)
    frame = _pings(hotspots, 4000, 3, metric=case == "metric")
    if case == "no-officer-team":
        frame = frame.drop(columns=["officer_id", "team"])
    path = tmp_path / "pings.parquet"
    frame.to_parquet(path, row_group_size=1500)
    options = ping_options_for(hotspots, config.compliance, chunk_rows=1000)
    if case == "projected":
        options = dataclasses.replace(options, locate=None)
    index = options.locate.metric if options.locate is not None else hotspot_index(hotspots, config.compliance)
    tracks, labels, teams, team_text = TrackCodes(), Codes(), Codes(), Codes()
    n_pairs = 0
    with Deduplicator() as dedup:
        for first, raw, cols in iter_raw_chunks(path, 1000):
            old = validate_chunk(raw, cols, source=path, first_row=first, options=options)
            new = score_rows(check_rows(raw, cols, source=path, first_row=first, options=options), options, index,
                             dedup.prepare)
            f = old.frame
            assert new.n_read == old.n_read == len(raw)
            assert new.extent == old.extent
            pd.testing.assert_frame_equal(new.quarantine.to_quarantine().frame, old.quarantine.frame)
            np.testing.assert_array_equal(new.first_row + new.positions, f["source_row"].to_numpy())
            np.testing.assert_array_equal(new.time_ns, f["time"].dt.as_unit("ns").array.asi8)
            keys = f["key"].to_numpy()
            np.testing.assert_array_equal(new.keys.key, keys)
            np.testing.assert_array_equal(new.keys.unique, np.sort(pd.unique(keys)))
            row, hot = assign_chunk(index, old, options.locate)
            np.testing.assert_array_equal(new.row, row)
            np.testing.assert_array_equal(new.hotspot, hot)
            n_pairs += len(row)
            sub = f.iloc[row]
            np.testing.assert_array_equal(tracks.encode_indices(new.device, new.officer),
                                          labels.encode(track_labels(sub).to_numpy(dtype=object)))
            np.testing.assert_array_equal(teams.encode_indices(*new.team), team_text.encode(sub["team"].astype(str)))
    assert n_pairs > 100
    assert list(tracks.labels()) == labels.values
    assert teams.values == team_text.values


def test_codes_of_dictionary_indices_are_the_codes_of_their_text():
    words = np.array(["R1", "R2", "R1", "R3"], dtype=object)  # two entries with the same text
    indices = np.array([3, 2, 0, 1, 3, 0], dtype=np.int32)
    a = Codes()
    np.testing.assert_array_equal(a.encode_indices(words, indices), [0, 1, 1, 2, 0, 1])
    assert a.values == ["R3", "R1", "R2"]
    assert len(a.encode_indices(words, indices[:0])) == 0
