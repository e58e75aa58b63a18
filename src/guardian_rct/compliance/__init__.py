"""Compliance from officers' location pings: reading and validating pings, presence and visits, the 24-hour arrival rule, patrol logs, the Dask engine."""
