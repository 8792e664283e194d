"""The analytics kernel: pure, vectorised statistics over columnar batches (no I/O)."""
