"""`python -m genops.help`: refresh the shipped help topics from the checkout's docs and README."""

from pathlib import Path

from genops.help import refresh

if __name__ == "__main__":
    changed = refresh(Path(__file__).resolve().parents[2])
    print("refreshed: " + (", ".join(changed) or "nothing changed"))
