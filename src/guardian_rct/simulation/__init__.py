"""Synthetic crimes and pings with known truth, and power analysis."""
