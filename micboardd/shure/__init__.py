"""Shure command-string protocol: the pure wire codec and the per-family vocabularies."""
