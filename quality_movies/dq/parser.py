"""DQDL text -> Ruleset, with lark; syntax errors carry line, column and the expected tokens."""

from datetime import timedelta
from functools import cache
from importlib import resources
from pathlib import Path

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import (
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
    UnexpectedToken,
    VisitError,
)

from quality_movies.dq import model
from quality_movies.dq.errors import DataQualityError, DQDLSyntaxError, UnreadableInputError

_FRIENDLY_TERMINALS = {
    "RULE_TYPE": "a rule type (e.g. ColumnValues)",
    "STRING": 'a quoted string ("...")',
    "SIGNED_NUMBER": "a number",
    "COMPARATOR": "a comparison (=, !=, >, >=, <, <=)",
    "AND": "'and'",
    "OR": "'or'",
    "NOT": "'not'",
    "BETWEEN": "'between'",
    "IN": "'in'",
    "MATCHES": "'matches'",
    "NULL": "NULL",
    "EMPTY": "EMPTY",
    "WHITESPACES_ONLY": "WHITESPACES_ONLY",
    "NOW": "now()",
    "SIGN": "'+' or '-'",
    "TIME_UNIT": "days, hours or minutes",
    "$END": "end of input",
}
_UNITS = {"days": timedelta(days=1), "hours": timedelta(hours=1), "minutes": timedelta(minutes=1)}


@cache
def _parser() -> Lark:
    grammar = resources.files("quality_movies.dq").joinpath("dqdl.lark").read_text(encoding="utf-8")
    # cache=True keeps the built LALR tables in a temp file: about 0.1 s saved per process.
    return Lark(grammar, parser="lalr", propagate_positions=True, cache=True)


def _unquote(token: Token | str) -> str:
    body = str(token)[1:-1]
    return body.replace('\\"', '"').replace("\\\\", "\\")


def _describe_expected(names: set[str]) -> list[str]:
    parser = _parser()
    described = set()
    for name in names:
        if name in _FRIENDLY_TERMINALS:
            described.add(_FRIENDLY_TERMINALS[name])
            continue
        try:
            pattern = parser.get_terminal(name).pattern
        except KeyError:
            described.add(name)
            continue
        described.add(f"'{pattern.value}'" if pattern.type == "str" else name)
    return sorted(described)


class _ToModel(Transformer):
    """Builds model objects from the parse tree; needs the source text to keep each rule as written."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self._text = text

    def _slice(self, meta) -> str:
        return self._text[meta.start_pos : meta.end_pos].strip()

    def start(self, items):
        metadata, default_labels, rules = {}, {}, []
        for kind, payload in items:
            if kind == "metadata":
                metadata.update(payload)
            elif kind == "default_labels":
                default_labels = payload
            elif kind == "rules":
                rules = payload
        return metadata, default_labels, rules

    def metadata(self, items):
        return ("metadata", items[0])

    def data_sources(self, items):
        return ("metadata", {"DataSources": items[0]})

    def dictionary(self, items):
        return dict(item for item in items if item is not None)

    def pair(self, items):
        key, value = items
        return _unquote(key), value if isinstance(value, list) else _unquote(value)

    def string_list(self, items):
        return [_unquote(item) for item in items]

    def default_labels(self, items):
        return ("default_labels", items[0])

    def rules(self, items):
        return ("rules", [item for item in items if item is not None])

    def labels(self, items):
        return items[0]

    def label_list(self, items):
        return dict(item for item in items if item is not None)

    def label(self, items):
        return _unquote(items[0]), _unquote(items[1])

    @v_args(meta=True)
    def top_rule(self, meta, items):
        rule = items[0]
        if len(items) > 1:
            object.__setattr__(rule, "labels", items[1])
        return rule

    @v_args(meta=True)
    def and_rule(self, meta, items):
        children = tuple(item for item in items if not isinstance(item, Token))
        return model.CompositeRule("and", children, self._slice(meta), meta.line, meta.column)

    @v_args(meta=True)
    def or_rule(self, meta, items):
        children = tuple(item for item in items if not isinstance(item, Token))
        return model.CompositeRule("or", children, self._slice(meta), meta.line, meta.column)

    @v_args(meta=True)
    def dq_rule(self, meta, items):
        rule_type = str(items[0])
        parameters, condition, threshold, where = [], None, None, None
        for item in items[1:]:
            if isinstance(item, tuple) and item[0] == "parameter":
                parameters.append(item[1])
            elif isinstance(item, tuple) and item[0] == "threshold":
                if threshold is not None:
                    raise _RuleShapeError(meta, "'with threshold' is given twice")
                threshold = item[1]
            elif isinstance(item, tuple) and item[0] == "where":
                if where is not None:
                    raise _RuleShapeError(meta, "'where' is given twice")
                where = item[1]
            else:
                condition = item
        return model.Rule(
            rule_type=rule_type,
            parameters=tuple(parameters),
            condition=condition,
            threshold=threshold,
            where=where,
            text=self._slice(meta),
            line=meta.line,
            column=meta.column,
        )

    def parameter(self, items):
        token = items[0]
        if token.type == "STRING":
            return ("parameter", _unquote(token))
        return ("parameter", float(token))

    def threshold(self, items):
        return ("threshold", items[0])

    def where_clause(self, items):
        return ("where", _unquote(items[0]))

    def compare(self, items):
        return model.Condition(str(items[0]), (items[1],))

    def between(self, items):
        negated = len(items) == 5
        low, high = items[-3], items[-1]
        return model.Condition("not between" if negated else "between", (low, high))

    def in_set(self, items):
        negated = isinstance(items[0], Token) and items[0].type == "NOT"
        values = tuple(item for item in items if not isinstance(item, Token))
        return model.Condition("not in" if negated else "in", values)

    def matches(self, items):
        negated = items[0].type == "NOT"
        pattern = model.Value(model.STRING, text=_unquote(items[-1]))
        return model.Condition("not matches" if negated else "matches", (pattern,))

    def number(self, items):
        return model.Value(model.NUMBER, number=float(items[0]))

    def string(self, items):
        return model.Value(model.STRING, text=_unquote(items[0]))

    def null(self, items):
        return model.Value(model.NULL)

    def empty(self, items):
        return model.Value(model.EMPTY)

    def whitespaces_only(self, items):
        return model.Value(model.WHITESPACES_ONLY)

    def now(self, items):
        return model.Value(model.NOW)

    def now_offset(self, items):
        _, sign, amount, unit = items
        offset = float(amount) * _UNITS[str(unit)]
        return model.Value(model.NOW, offset=-offset if str(sign) == "-" else offset)

    def duration(self, items):
        return model.Value(model.DURATION, offset=float(items[0]) * _UNITS[str(items[1])])


class _RuleShapeError(Exception):
    def __init__(self, meta, problem: str) -> None:
        super().__init__(problem)
        self.meta = meta
        self.problem = problem


def parse_ruleset(text: str, source: str = "<ruleset>") -> model.Ruleset:
    """Parse DQDL text; raises DQDLSyntaxError or UnsupportedRuleError/InvalidRuleError."""
    from quality_movies.dq.rule_types import validate_rule

    try:
        tree = _parser().parse(text)
    except UnexpectedInput as error:
        raise _syntax_error(error, text, source) from None
    try:
        metadata, default_labels, rules = _ToModel(text).transform(tree)
    except VisitError as error:
        inner = error.orig_exc
        if isinstance(inner, _RuleShapeError):
            raise DQDLSyntaxError(
                source, inner.meta.line, inner.meta.column, [], inner.problem
            ) from None
        raise
    ruleset = model.Ruleset(
        rules=rules, source=source, metadata=metadata, default_labels=default_labels
    )
    for leaf in ruleset.leaves:
        validate_rule(leaf, source)
    return ruleset


def _syntax_error(error: UnexpectedInput, text: str, source: str) -> DQDLSyntaxError:
    if isinstance(error, UnexpectedToken):
        found = "end of input" if error.token.type == "$END" else f"'{error.token}'"
        expected = _describe_expected(set(error.expected))
        line, column = error.line, error.column
        if error.token.type == "$END":
            line, column = _end_position(text)
    elif isinstance(error, UnexpectedCharacters):
        found = f"'{error.char}'"
        expected = _describe_expected(set(error.allowed or ()))
        line, column = error.line, error.column
    elif isinstance(error, UnexpectedEOF):
        found = "end of input"
        expected = _describe_expected(set(error.expected))
        line, column = _end_position(text)
    else:
        found, expected, line, column = (
            "input",
            [],
            getattr(error, "line", 0),
            getattr(error, "column", 0),
        )
    return DQDLSyntaxError(source, line, column, expected, found)


def _end_position(text: str) -> tuple[int, int]:
    lines = text.split("\n")
    return len(lines), len(lines[-1]) + 1


def load_ruleset(path: str | Path) -> model.Ruleset:
    """Read and parse a ``.dqdl`` file; raises UnreadableInputError when it cannot be read."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise UnreadableInputError(f"{path}: cannot read the ruleset ({error})") from None
    return parse_ruleset(text, source=str(path))


def default_ruleset_path() -> Path:
    """The packaged movies ruleset, the source of truth for the pipeline's rules."""
    return Path(str(resources.files("quality_movies.dq").joinpath("rulesets", "movies.dqdl")))


__all__ = ["DataQualityError", "default_ruleset_path", "load_ruleset", "parse_ruleset"]
