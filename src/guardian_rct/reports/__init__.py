"""Reports: each is a data object first (with a schema version), then HTML rendered from
it by templates that do no arithmetic (DESIGN.md rule 7).

Shared pieces: :mod:`guardian_rct.reports.render` (Jinja environment, base layout) and
:mod:`guardian_rct.reports.maps` (static map images that work offline).
"""
