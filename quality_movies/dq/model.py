"""The parsed form of a DQDL ruleset: rules, conditions and values, each keeping the text it came from."""

from dataclasses import dataclass, field
from datetime import time, timedelta

from quality_movies.dq.expressions import Expr

NUMBER = "number"
STRING = "string"
NULL = "NULL"
EMPTY = "EMPTY"
WHITESPACES_ONLY = "WHITESPACES_ONLY"
NOW = "now"
DURATION = "duration"
SIZE = "size"
EXPRESSION = "expression"
LIST = "list"
KEYWORDS = (NULL, EMPTY, WHITESPACES_ONLY)


@dataclass(frozen=True)
class Value:
    """One operand of a condition or tag.

    ``kind`` says which fields hold it: a number (``number``; constant arithmetic is folded into it), a
    string (``text``), a keyword (NULL, EMPTY, WHITESPACES_ONLY), ``now()`` +/- ``offset``, a duration
    (``offset``), a size (``number`` in bytes, KB = 1024 B; ``text`` as written, e.g. "2 MB"), a dynamic
    expression over the metric's history (``expression``) or a tag's list of strings (``items``). A string that reads as a time of day ("9:30 PM",
    "21:30") also carries it in ``clock``.
    """

    kind: str
    number: float | None = None
    text: str | None = None
    offset: timedelta = timedelta(0)
    expression: Expr | None = None
    clock: time | None = None
    items: tuple[str, ...] = ()

    def __str__(self) -> str:
        if self.kind == LIST:
            return "[" + ", ".join(f'"{item}"' for item in self.items) + "]"
        if self.kind == EXPRESSION:
            return str(self.expression)
        if self.kind == SIZE:
            return str(self.text)
        if self.kind == NUMBER:
            return _number_text(self.number)
        if self.kind == STRING:
            return f'"{self.text}"'
        if self.kind == NOW:
            if not self.offset:
                return "now()"
            sign = "-" if self.offset < timedelta(0) else "+"
            return f"(now() {sign} {_duration_text(abs(self.offset))})"
        if self.kind == DURATION:
            return _duration_text(self.offset)
        return self.kind


def _number_text(number: float | None) -> str:
    return str(int(number)) if number is not None and number == int(number) else str(number)


def _duration_text(offset: timedelta) -> str:
    seconds = int(offset.total_seconds())
    if seconds % 86400 == 0:
        return f"{seconds // 86400} days"
    if seconds % 3600 == 0:
        return f"{seconds // 3600} hours"
    return f"{seconds // 60} minutes"


@dataclass(frozen=True)
class Condition:
    """An operator and its operands, e.g. ``between 8.5 and 10.3`` or ``not in ["a", NULL]``."""

    operator: str
    values: tuple[Value, ...]

    def __str__(self) -> str:
        if self.operator.endswith("between"):
            return f"{self.operator} {self.values[0]} and {self.values[1]}"
        if self.operator.endswith("in"):
            return f"{self.operator} [{', '.join(str(v) for v in self.values)}]"
        return f"{self.operator} {self.values[0]}"


@dataclass(frozen=True)
class Rule:
    """A single DQDL rule such as ``ColumnValues "imdb_rating" between 8.5 and 10.3``."""

    rule_type: str
    parameters: tuple[str | float, ...]
    condition: Condition | None
    threshold: Condition | None
    where: str | None
    text: str
    line: int
    column: int
    labels: dict[str, str] = field(default_factory=dict, compare=False)
    tags: dict[str, Value] = field(default_factory=dict, compare=False)

    @property
    def name(self) -> str:
        return self.rule_type

    @property
    def leaves(self) -> tuple["Rule", ...]:
        return (self,)

    def tag(self, key: str) -> Value | None:
        """The ``with key = value`` tag, key compared case-insensitively (``ignoreCase``, ``IGNORECASE``)."""
        for name, value in self.tags.items():
            if name.lower() == key.lower():
                return value
        return None


@dataclass(frozen=True)
class CompositeRule:
    """Rules joined by ``and`` or ``or`` (``and`` binds tighter); ``labels`` are the composite's own."""

    operator: str
    children: tuple["Rule | CompositeRule", ...]
    text: str
    line: int
    column: int
    labels: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def rule_type(self) -> str:
        return "Composite"

    @property
    def name(self) -> str:
        return self.rule_type

    @property
    def leaves(self) -> tuple[Rule, ...]:
        return tuple(leaf for child in self.children for leaf in child.leaves)


AnyRule = Rule | CompositeRule


@dataclass(frozen=True)
class Ruleset:
    """The rules and analyzers of one DQDL document, in the order written.

    ``additional_sources`` maps each alias of ``DataSources``' ``AdditionalDataSources`` to its dataset
    name; ``default_labels`` are already merged into each rule's ``labels``.
    """

    rules: list[AnyRule]
    source: str = "<ruleset>"
    metadata: dict[str, object] = field(default_factory=dict)
    default_labels: dict[str, str] = field(default_factory=dict)
    analyzers: list[Rule] = field(default_factory=list)
    additional_sources: dict[str, str] = field(default_factory=dict)

    @property
    def leaves(self) -> list[Rule]:
        return [leaf for rule in self.rules for leaf in rule.leaves]


def dqdl_string(value: str) -> str:
    """``value`` as a DQDL string literal (double quotes, backslash escapes)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
