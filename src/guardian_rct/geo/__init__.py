"""Hotspot geometry: reading and checking hotspot files, the point-in-hotspot index, buffer rings, coverage and hotspot building."""
