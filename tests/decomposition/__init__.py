"""Tests of sklearn_musicrec.decomposition."""
