"""Training clips: probe, pre-flight checks, conversion, the recording guide."""
