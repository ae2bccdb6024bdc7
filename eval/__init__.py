"""Evaluation: data sets, metrics, judges, reports and the CI gate. Imports `rag` only."""
