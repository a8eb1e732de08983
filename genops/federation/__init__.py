"""A federation: member workspaces that talk only through published, versioned interfaces.

See docs/federation.md. This package sits above genops.release (ADR-0001): it orchestrates
member runs, federation releases and partition plans; it never reaches into the CLI.
"""
