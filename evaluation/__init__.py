"""Measure matching accuracy: annotation files, metrics, labelled benchmark generation,
evaluation runs with sweeps and comparisons, reports and plots."""
