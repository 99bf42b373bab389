"""Data contract, validation, synthetic population, code lists and point-in-time features."""
