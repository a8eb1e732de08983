"""`genops help [TOPIC]`: the reference, shipped inside the package (no docs/ checkout needed)."""

from __future__ import annotations

import sys

import typer


def register(app: typer.Typer) -> None:
    @app.command("help")
    def help_command(
        topic: str | None = typer.Argument(None, help="A topic (omit it to list them)."),
    ) -> None:
        """Show a reference topic (config, rules, output, providers, ...); no topic lists them."""
        from genops.help import TOPICS, topic_text

        if topic is None:
            width = max(len(t.name) for t in TOPICS)
            lines = [f"  {t.name:<{width}}  {t.summary}" for t in TOPICS]
            sys.stdout.write("genops help TOPIC, where TOPIC is one of:\n" + "\n".join(lines)
                             + "\n")
            return
        sys.stdout.write(topic_text(topic))
