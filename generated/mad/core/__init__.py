"""The cell's shared core: the conversation bus, the MAD base class, observability."""
