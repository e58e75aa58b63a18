"""The trial configuration: ``TrialConfig`` from TOML (schema checks, patrol windows, loading)."""
