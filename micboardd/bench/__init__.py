"""`make bench`: speed and memory figures, printed as one table (never asserted in tests)."""
