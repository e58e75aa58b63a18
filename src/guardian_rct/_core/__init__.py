"""Foundations every stage uses: errors, random streams, experimental days, provenance, quarantine tables, text CSV."""
