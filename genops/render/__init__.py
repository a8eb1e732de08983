"""Rendering: the only package that imports rich. Core code returns data; this turns it into text."""
