"""The demo clinic and other demo material (synthetic; no real person behind any record)."""
