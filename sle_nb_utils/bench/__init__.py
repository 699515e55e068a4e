"""Benchmarks (`make bench`): outside the estimators' import path; never imported by the notebooks."""
