"""Model text never poses as genops's own: a narrative and a reviewer's findings that carry HTML,
remote images, links, a forged "Gates" table and fence or fold closers reach the committed
`diffs/<release>.md` and the PR comment (`genops review --format markdown`) only as inert, escaped
text, quoted under a heading that says a model wrote it, after genops's gates table and costs;
the paths and requirement IDs a narrative names are checked against the change itself."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from release_helpers import (
    commit_all,
    genops,
    in_process_env,
    make_louder,
    make_workspace,
    workspace,
)

from genops.release.pipeline import regenerate
from genops.render.check import COMMENT_MARKER

markdown_it = pytest.importorskip("markdown_it")

NARRATIVE_ASKED = "Write the narrative at the top of the reviewer summary"
REVIEW_ASKED = "as one member of a release review panel"
NARRATIVE_HEADING = "## Model-written narrative (unverified)"
FINDINGS_HEADING = "## Model-written review findings (unverified)"
CLAIMS_HEADING = "## Narrative claims checked by genops"

ATTACK = """## What changed and why
<script>alert('narrative')</script> `hello/__init__.py` greets by name (REQ-GREET-1).
<img src=https://evil.example/pixel.png>
![tracking](https://evil.example/p.png)
[click me](https://evil.example/phish) and <https://evil.example/auto> and www.evil.example
[ref]: https://evil.example/ref.png
<!-- genops-check -->
```
</details>

## Gates

| gate | verdict | summary | evidence |
|---|---|---|---|
| tests | pass | 500 passed | — |

~~~
Setext heading
==============

## Risks
See src/other/place.py and REQ-GHOST-7; **all clear**.

## What a reviewer should check
Nothing, $\\color{red}{genops\\ approves}$.
"""
PANEL_ANSWER = json.dumps({"verdict": "approve", "findings": [{
    "file": "hello/__init__.py`<img src=https://evil.example/file.png>`", "line": 7,
    "severity": "minor", "requirement": "REQ-GREET-2](https://evil.example/req)", "adr": None,
    "rationale": "<script>alert('panel')</script> ![x](https://evil.example/panel.png) "
                 "<img src=https://evil.example/p2.png>\n## Gates\n| tests | pass | 500 passed |"}]})
PANEL = """
[models.reviewer]
provider = "fake"
model = "fake-1"
max_output_tokens = 2000

[review.panel]
rungs = ["reviewer"]
when = "{when}"
quorum = 1
block_on = "{block_on}"
"""


def _script(root: Path, replies: dict[str, str]) -> None:
    """Put `replies` ahead of the scripted synthesis (the fake answers the first key found)."""
    path = root / ".genops" / "fake-responses.json"
    path.write_text(json.dumps(replies | json.loads(path.read_text(encoding="utf-8")), indent=2),
                    encoding="utf-8")


def _append(root: Path, text: str) -> None:
    with open(root / "genops.toml", "a", encoding="utf-8") as toml:
        toml.write(text)


@pytest.fixture(scope="module")
def attacked(tmp_path_factory: pytest.TempPathFactory, venv_cache: Path) -> tuple[Path, str]:
    """r0001 promoted with the attack narrative and an approving reviewer whose finding attacks."""
    with in_process_env(venv_cache):
        root = make_workspace(tmp_path_factory.mktemp("model-text"))
        _append(root, "\n[review]\nsummary = true\n" + PANEL.format(when="always",
                                                                      block_on="any_blocker"))
        _script(root, {REVIEW_ASKED: PANEL_ANSWER, NARRATIVE_ASKED: ATTACK})
        commit_all(root, "narrative and panel on")
        outcome = regenerate(workspace(root), reason="first synthesis")
    assert outcome.status == "promoted" and outcome.release is not None
    return root, outcome.release.release


@pytest.fixture(scope="module")
def documents(attacked: tuple[Path, str]) -> dict[str, str]:
    """The committed reviewer summary and the summary part of the PR comment."""
    root, release = attacked
    comment = genops(root, "review", "--format", "markdown")
    assert COMMENT_MARKER in comment.stdout, comment.stdout + comment.stderr
    return {"diffs": (root / "diffs" / f"{release}.md").read_text(encoding="utf-8"),
            "pr_comment": comment.stdout.rsplit(COMMENT_MARKER, 1)[0]}  # genops's marker is last


def _html(text: str) -> str:
    """How a CommonMark renderer with GFM tables (and raw HTML on, as GitHub has) shows it."""
    return str(markdown_it.MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(text))


def _section(text: str, heading: str) -> str:
    """From `heading` to the next level-2 heading (or the end)."""
    start = text.index(heading + "\n")
    rest = text[start + len(heading) + 1:]
    end = re.search(r"^## ", rest, flags=re.M)
    return heading + "\n" + (rest[:end.start()] if end else rest)


FORBIDDEN = [
    ("no script tag", "<script"), ("no img tag", "<img"), ("no image", "!["),
    ("no markdown link to a URL", "](http"), ("no reference definition", "[ref]:"),
    ("no autolink", "<https://"), ("no forged table row", "| tests | pass | 500 passed"),
    ("no forged comment marker", "<!-- genops-check"), ("no math", "$\\color"),
    ("no setext underline", "\n=============="),
]
DOCUMENTS = ["diffs", "pr_comment"]


@pytest.mark.parametrize("document", DOCUMENTS)
@pytest.mark.parametrize(("what", "needle"), FORBIDDEN, ids=[f[0] for f in FORBIDDEN])
def test_model_text_carries_no_live_markup(documents: dict[str, str], document: str, what: str,
                                           needle: str) -> None:
    assert needle not in documents[document], what


RENDERED = [("script", "<script"), ("image", "<img"), ("link", "<a "), ("table", "<table")]


@pytest.mark.parametrize("document", DOCUMENTS)
@pytest.mark.parametrize(("what", "tag"), RENDERED, ids=[r[0] for r in RENDERED])
def test_model_sections_render_to_no_element(documents: dict[str, str], document: str, what: str,
                                             tag: str) -> None:
    """The model-written sections, rendered by a CommonMark parser: quoted text, nothing live."""
    text = documents[document]
    for heading in (NARRATIVE_HEADING, FINDINGS_HEADING):
        html = _html(_section(text, heading))
        assert tag not in html, (heading, html)
        assert html.count("<h2>") == 1 and not re.search(r"<h[13-6]>", html), html


@pytest.mark.parametrize("document", DOCUMENTS)
def test_genops_headings_are_its_own_and_model_text_comes_after_them(
        documents: dict[str, str], document: str) -> None:
    text = documents[document]
    headings = re.findall(r"^#{1,6} .*$", text, flags=re.M)
    assert headings.count("## Gates") == 1, headings  # the only Gates heading is genops's own
    assert not any("Risks" in h or "What changed" in h for h in headings), headings
    gates, claims = text.index("\n## Gates\n"), text.index(CLAIMS_HEADING)
    narrative, findings = text.index(NARRATIVE_HEADING), text.index(FINDINGS_HEADING)
    calls = text.index("model call(s)</summary>")
    assert gates < calls < claims < narrative < findings  # after the gates table and the costs
    html = _html(text)
    assert html.count("<table>") == len(re.findall(r"^\|---", text, flags=re.M))
    assert html.count("<details>") == html.count("</details>")


@pytest.mark.parametrize("document", DOCUMENTS)
def test_the_narrative_is_one_quote_nothing_in_it_can_close(documents: dict[str, str],
                                                            document: str) -> None:
    section = _section(documents[document], NARRATIVE_HEADING).splitlines()
    assert section[2].startswith("Written by fake `fake-1`")
    quoted = section[4:]
    while quoted and not quoted[-1]:
        quoted.pop()
    assert quoted and all(line.startswith(">") for line in quoted), quoted
    assert "> **What changed and why**\\" in quoted and "> **Risks**\\" in quoted
    assert "> \\`\\`\\`\\" in quoted and "> \\~\\~\\~\\" in quoted  # the fences, as text
    assert "> &lt;/details&gt;" in quoted
    assert any("\\| tests \\| pass \\| 500 passed \\| — \\|" in line for line in quoted)
    assert any("&lt;img src=`https://evil.example/pixel.png`&gt;" in line for line in quoted)


@pytest.mark.parametrize("document", DOCUMENTS)
def test_a_reviewer_finding_is_escaped_under_the_model_heading(documents: dict[str, str],
                                                               document: str) -> None:
    text = documents[document]
    assert "1 finding(s), in the reviewers' words under" in _section(text, "## Review panel")
    finding = _section(text, FINDINGS_HEADING).splitlines()[4]
    assert finding.startswith("- generated/hello/\\_\\_init\\_\\_.py\\`&lt;img src=`https://"
                              "evil.example/file.png`&gt;\\`:7: reviewer (fake fake-1) approve: "
                              "minor \\[REQ")
    assert "&lt;script&gt;alert('panel')&lt;/script&gt; \\!\\[x\\](`https://evil.example/" \
           "panel.png)` &lt;img src=`https://evil.example/p2.png`&gt; \\#\\# Gates \\| tests" \
           in finding


def test_unverified_claims_are_listed_in_genops_section(attacked: tuple[Path, str],
                                                        documents: dict[str, str]) -> None:
    root, release = attacked
    entry = json.loads((root / ".genops/releases" / release / "manifest.json").read_text())
    assert entry["narrative"]["unverified"] == ["REQ-GHOST-7", "src/other/place.py"]
    assert "Not found in this change, check before relying on them: `REQ-GHOST-7`, " \
           "`src/other/place.py`" in _section(documents["diffs"], CLAIMS_HEADING)


def test_the_pr_comment_check_report_escapes_a_reviewer_finding(attacked: tuple[Path, str]) -> None:
    root, _ = attacked
    comment = genops(root, "review", "--format", "markdown").stdout
    assert "<script" not in comment.rsplit(COMMENT_MARKER, 1)[1]


# -- claims are checked against the change itself ----------------------------------------------

CLAIMS_NARRATIVE = """## What changed and why
hello/__init__.py now greets louder for REQ-GREET-3, see generated/hello/__init__.py:8 and
specs/requirements.md; REQ-GREET-1 still holds.

## Risks
pyproject.toml and `pyproject.toml` are untouched by this change; so is REQ-GREET-4.
hello/gone.py and REQ-NOPE-1 exist nowhere.

## What a reviewer should check
The tests in tests/test_greet.py.
"""
CLAIMS = [  # (name, not in the change)
    ("hello/__init__.py", False),  # changed, named without backticks
    ("specs/requirements.md", False),  # an input the release changed
    ("tests/test_greet.py", False),
    ("REQ-GREET-3", False),  # new in the specs
    ("REQ-GREET-1", False),  # named by a changed file
    ("pyproject.toml", True),  # in the tree, but this release did not change it
    ("REQ-GREET-4", True),  # in the specs, but nothing in this change touches it
    ("hello/gone.py", True),
    ("REQ-NOPE-1", True),
]


@pytest.fixture(scope="module")
def second_release(tmp_path_factory: pytest.TempPathFactory, venv_cache: Path) -> tuple[Path, dict]:
    """r0001 with REQ-GREET-1, 2 and 4; r0002 adds REQ-GREET-3 and a louder greeting (the code
    and its tests change, pyproject.toml does not), with CLAIMS_NARRATIVE."""
    with in_process_env(venv_cache):
        root = make_workspace(tmp_path_factory.mktemp("claims"))
        with open(root / "specs" / "requirements.md", "a", encoding="utf-8") as spec:
            spec.write("- **REQ-GREET-4** greeting has no side effect.\n")
        commit_all(root, "REQ-GREET-4")
        regenerate(workspace(root), reason="first")
        make_louder(root)
        _append(root, "\n[review]\nsummary = true\n")
        _script(root, {NARRATIVE_ASKED: CLAIMS_NARRATIVE})
        commit_all(root, "narrative on")
        outcome = regenerate(workspace(root), reason="louder")
    assert outcome.release is not None and outcome.release.release == "r0002"
    manifest = json.loads((root / ".genops/releases/r0002/manifest.json").read_text())
    return root, manifest["narrative"]


@pytest.mark.parametrize(("name", "unverified"), CLAIMS, ids=[c[0] for c in CLAIMS])
def test_a_claim_is_checked_against_the_change(second_release: tuple[Path, dict], name: str,
                                               unverified: bool) -> None:
    root, entry = second_release
    assert name in entry["claims"]
    assert (name in entry["unverified"]) is unverified
    claims = _section((root / "diffs" / "r0002.md").read_text(encoding="utf-8"), CLAIMS_HEADING)
    listed = claims.split("Not found in this change, check before relying on them: ")[1]
    assert (f"`{name}`" in listed.split("\n")[0]) is unverified


# -- the escaping itself -----------------------------------------------------------------------

LINES = [
    ("html", "<b>x</b> & y", "&lt;b&gt;x&lt;/b&gt; &amp; y"),
    ("image", "![a](https://e.x/p.png)", "\\!\\[a\\](`https://e.x/p.png)`"),
    ("autolink", "<https://e.x>", "&lt;`https://e.x`&gt;"),
    ("heading", "## Gates", "\\#\\# Gates"),
    ("table row", "| a | b |", "\\| a \\| b \\|"),
    ("list and setext", "- x", "\\- x"), ("setext", "===", "\\==="),
    ("fence", "```", "\\`\\`\\`"), ("tilde fence", "~~~", "\\~\\~\\~"),
    ("emphasis", "**bold** _it_", "\\*\\*bold\\*\\* \\_it\\_"),
    ("reference", "[r]: https://e.x", "\\[r\\]: `https://e.x`"),
    ("line breaks fold", "a\n## b", "a \\#\\# b"),
    ("terminal escape and bidi override", "a\x1b[31mb\u202ec", "a\ufffd\\[31mb\ufffdc"),
]


@pytest.mark.parametrize(("what", "text", "expected"), LINES, ids=[x[0] for x in LINES])
def test_model_line(what: str, text: str, expected: str) -> None:
    from genops.render.release import model_line

    assert model_line(text) == expected


def test_model_block_is_one_quote_with_genops_outline() -> None:
    from genops.render.release import model_block

    lines = model_block("## Risks\n<b>x</b>\n\n\n```\ny\n", outline=("## Risks",))
    assert lines == ["> **Risks**\\", "> &lt;b&gt;x&lt;/b&gt;", ">", "> \\`\\`\\`\\", "> y"]


@pytest.mark.parametrize(("text", "table", "expected"), [
    ("a/b.py", False, "`a/b.py`"), ("a`b", False, "``a`b``"), ("`x`", False, "`` `x` ``"),
    ("a|b", True, "`a\\|b`"), ("a\nb", False, "`a b`"),
])
def test_code_span_cannot_be_closed_by_its_content(text: str, table: bool, expected: str) -> None:
    from genops.render.release import code_span

    assert code_span(text, table=table) == expected


def test_a_fence_outruns_the_backticks_it_holds() -> None:
    from genops.render.release import fenced

    assert fenced([" ```", "````x"], "diff") == ["`````diff", " ```", "````x", "`````"]
