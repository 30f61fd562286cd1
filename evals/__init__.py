"""Evaluation: the test-question set and plain functions that score the Assistant on it."""
