"""Text for the UI's Markdown metadata: untrusted values (CSV cells, column names, rules) shown as typed,
never as markup."""

import re

HTML_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
# Characters that open Markdown's inline constructs (emphasis, code, links, images, tables, strike).
MARKDOWN_PUNCTUATION = frozenset("\\`*_[]!|~")


def markdown_text(value: object) -> str:
    """``value`` as literal text in Markdown, on one line: HTML's ``& < >`` as entities and the marks
    that open Markdown's inline constructs backslash-escaped, so a CSV value or column name such as
    ``<img src=x onerror=...>`` or ``[a](javascript:...)`` shows as typed, never as markup."""
    return "".join(
        HTML_ENTITIES.get(c) or (f"\\{c}" if c in MARKDOWN_PUNCTUATION else c)
        for c in " ".join(str(value).split())
    )


def markdown_code(value: object) -> str:
    """``value`` as an inline code span (its characters literal), fenced by more backticks than it
    holds in a row."""
    text = " ".join(str(value).split())
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    return f"{fence} {text} {fence}"


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A small Markdown table for the UI; every header and cell is literal text."""
    lines = [
        "| " + " | ".join(markdown_text(h) for h in header) + " |",
        "|" + "---|" * len(header),
    ]
    lines += ["| " + " | ".join(markdown_text(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
