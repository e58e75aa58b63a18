"""Randomisation designs: the ``Design`` protocol, crossover and parallel designs, constraints, allocations and patrol times."""
