"""Training videos: probing a clip and pre-flight checks against Tavus's video rules."""
