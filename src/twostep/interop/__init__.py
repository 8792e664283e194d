"""Adapters between twostep and files: long-format CSV/Parquet (FHIR later)."""
