"""Evaluation engine: metrics, sanity checks, manifests, the batch runner and reports."""
