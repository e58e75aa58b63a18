"""Inputs hashed while the job works (provenance.hash_in_background) are the bytes read."""

from __future__ import annotations


def test_inputs_hashed_early_give_the_same_digest_and_a_changed_file_is_hashed_again(tmp_path):
    """hash_in_background must never let a report carry the hash of bytes it did not read:
    a file rewritten after the early hash (other bytes, other mtime) is hashed again."""
    import hashlib
    import os

    from guardian_rct._core.provenance import _EARLY, hash_in_background, sha256_file

    path = tmp_path / "pings.csv"
    path.write_bytes(b"a" * 3_000_000)
    hash_in_background([path, None, tmp_path, tmp_path / "missing.csv"])
    assert sha256_file(path) == hashlib.sha256(b"a" * 3_000_000).hexdigest()
    hash_in_background([path])
    path.write_bytes(b"b" * 3_000_000)  # same size: only the content and mtime differ
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert sha256_file(path) == hashlib.sha256(b"b" * 3_000_000).hexdigest()
    _EARLY.clear()


def test_the_early_hash_runs_in_a_daemon_thread_that_an_exit_does_not_wait_for(tmp_path):
    """A command that fails early (a bad config) must not wait for the hash of a gigabyte of
    pings it will never report: the hashing thread is a daemon, and its result still
    arrives for a command that goes on."""
    import hashlib
    import threading

    from guardian_rct._core.provenance import _EARLY, hash_in_background, sha256_file

    path = tmp_path / "pings.parquet"
    path.write_bytes(b"p" * 20_000_000)
    hash_in_background([path])
    hashing = [t for t in threading.enumerate() if t.name == "input-hash"]
    assert hashing and all(t.daemon for t in hashing)
    assert sha256_file(path) == hashlib.sha256(b"p" * 20_000_000).hexdigest()
    _EARLY.clear()
