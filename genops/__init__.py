"""genops: governed regeneration of LLM-generated software."""

__version__ = "0.1.0"
