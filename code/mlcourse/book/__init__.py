"""Sphinx-side helpers of the book (loaded by ``_config.yml``), not imported by the chapters."""
