"""Tandem gateway package."""
