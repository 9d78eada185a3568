"""Tests of sklearn_musicrec.neighbors."""
