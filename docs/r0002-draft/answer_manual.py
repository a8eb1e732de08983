"""Answer a manual `genops regenerate` run for r0002 from the draft: the blueprint from
blueprint.json, each group with its files (generated/ with the draft tree laid over it).

Run from the workspace root: `python docs/r0002-draft/answer_manual.py .genops/runs/<run>`, then
`genops resume <run>`; repeat for each dependency level until the run is promoted.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from genops.protocol.files import format_protocol

HERE = Path(__file__).resolve().parent


def draft_file(rel: str) -> str:
    for root in (HERE / "tree", Path.cwd() / "generated"):
        if (root / rel).is_file():
            return (root / rel).read_text(encoding="utf-8")
    raise SystemExit(f"{rel}: in neither the draft tree nor generated/")


def main(run: Path) -> int:
    blueprint = json.loads((HERE / "blueprint.json").read_text(encoding="utf-8"))
    groups = {g["name"]: g for g in blueprint["groups"]}
    responses = run / "responses"
    responses.mkdir(exist_ok=True)
    for request in sorted((run / "requests").glob("*.md")):
        answer = responses / request.name
        if answer.exists():
            continue
        label = request.stem.split("-", 1)[1]
        if label == "blueprint":
            text = json.dumps(blueprint, indent=1, ensure_ascii=False)
        elif label in groups:
            text = format_protocol({p: draft_file(p) for p in groups[label]["files"]})
        else:
            raise SystemExit(f"{request.name}: no drafted answer for a {label!r} request")
        answer.write_text(text, encoding="utf-8")
        print(f"answered {request.name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
