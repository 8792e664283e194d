"""Presentation: charts and documents. Nothing here computes a statistic."""
