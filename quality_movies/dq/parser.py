"""DQDL text -> Ruleset, with lark (LALR, tables cached); every error names the line, column and the fix.

Beyond the grammar, loading enforces what the DQDL reference and awslabs/dqdl's parser enforce: variables
defined once and used where their type fits, labels within AWS's limits, one threshold / where clause per
rule, lists of one type, known ``Metadata`` / ``DataSources`` keys and at least one rule or analyzer.
"""

import contextlib
import difflib
import re
from dataclasses import replace
from datetime import datetime, time, timedelta
from functools import cache
from importlib import resources

from lark import Lark, Token, Tree
from lark.exceptions import (
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
    UnexpectedToken,
)

from quality_movies.dq import expressions, model
from quality_movies.dq.errors import (
    DataQualityError,
    DQDLSyntaxError,
    InvalidRuleError,
    InvalidVariableError,
    UnevaluableRuleError,
    UnsupportedRuleError,
)

_FRIENDLY_TERMINALS = {
    "RULE_TYPE": "a rule type (e.g. ColumnValues)",
    "STRING": 'a quoted string ("...")',
    "NAME": "a name",
    "VARIABLE": "a variable ($name)",
    "NUMBER": "a number",
    "COMPARATOR": "a comparison (=, !=, >, >=, <, <=)",
    "ARITH": "an arithmetic operator (+, -, *, /)",
    "CONNECTOR_AND": "'and'",
    "AND": "'and'",
    "OR": "'or'",
    "NOT": "'not'",
    "BETWEEN": "'between'",
    "IN": "'in'",
    "MATCHES": "'matches'",
    "WITH": "'with'",
    "WHERE": "'where'",
    "LABELS": "'labels'",
    "OF": "'of'",
    "NULL": "NULL",
    "EMPTY": "EMPTY",
    "WHITESPACES_ONLY": "WHITESPACES_ONLY",
    "NOW": "now()",
    "TIME_UNIT": "days, hours or minutes",
    "SIZE_UNIT": "B, KB, MB, GB or TB",
    "$END": "end of input",
}
_UNITS = {"days": timedelta(days=1), "hours": timedelta(hours=1), "minutes": timedelta(minutes=1)}
_SIZE_UNITS = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}
METADATA_KEYS = ("Version",)
DATA_SOURCES_KEYS = ("Primary", "AdditionalDataSources")
MAX_LABELS = 10
MAX_LABEL_KEY = 128
MAX_LABEL_VALUE = 256
# The rule types of the DQDL rule type reference (also listed in dqdl.lark's CONNECTOR_AND).
DQDL_RULE_TYPES = frozenset(
    [
        "AggregateMatch",
        "AllStatistics",
        "ColumnCorrelation",
        "ColumnCount",
        "ColumnDataType",
        "ColumnExists",
        "ColumnLength",
        "ColumnNamesMatchPattern",
        "ColumnValues",
        "Completeness",
        "CustomSql",
        "DataFreshness",
        "DatasetMatch",
        "DetectAnomalies",
        "DistinctValuesCount",
        "Entropy",
        "FileFreshness",
        "FileMatch",
        "FileSize",
        "FileUniqueness",
        "IsComplete",
        "IsPrimaryKey",
        "IsUnique",
        "Mean",
        "ReferentialIntegrity",
        "RowCount",
        "RowCountMatch",
        "SchemaMatch",
        "StandardDeviation",
        "Sum",
        "UniqueValueRatio",
        "Uniqueness",
        "Variance",
    ]
)
# Rule types whose result is a yes/no (rules-config.json "BOOLEAN"): they have no metric to analyze.
BOOLEAN_RULE_TYPES = frozenset(
    {
        "IsComplete",
        "IsUnique",
        "IsPrimaryKey",
        "ColumnExists",
        "ColumnNamesMatchPattern",
        "DetectAnomalies",
        "FileMatch",
        "FileUniqueness",
    }
)
# "Monitor only" in rules-config.json: allowed in Analyzers, never in Rules.
ANALYZER_ONLY_TYPES = frozenset({"AllStatistics"})
# Quoted text AWS's lexer reads as a date or a time of day (DATE, TIME, MIL_TIME), never as a string.
_DATE_TOKEN = re.compile(r"\d{4}-\d{2}-\d{2}|\d{1,2}:\d{2} (AM|PM)|\d{2}:\d{2}")
# The kinds of condition each rule type takes (rules-config.json's return types): number, string, date,
# duration, size; None: no condition. A rule type missing here takes a number.
CONDITIONS = {
    **{name: (None,) for name in BOOLEAN_RULE_TYPES},
    "ColumnValues": ("string", "number", "date"),
    "ColumnDataType": ("string",),
    "DataFreshness": ("duration",),
    "CustomSql": ("number", None),
    "FileSize": ("size", "number"),
    "FileFreshness": ("date",),
    "FileMatch": ("string", None),
    "FileUniqueness": ("number",),
}
# rules-config.json's is_where_clause_supported.
WHERE_TYPES = frozenset(
    {
        "RowCount",
        "Completeness",
        "IsComplete",
        "ColumnDataType",
        "ColumnCorrelation",
        "Uniqueness",
        "IsUnique",
        "Mean",
        "Sum",
        "StandardDeviation",
        "Variance",
        "Entropy",
        "DistinctValuesCount",
        "UniqueValueRatio",
        "ColumnLength",
        "IsPrimaryKey",
        "ColumnValues",
        "DataFreshness",
    }
)
# rules-config.json's is_threshold_supported.
THRESHOLD_TYPES = frozenset(
    {"ColumnDataType", "ColumnValues", "CustomSql", "FileFreshness", "FileSize"}
)
# A FileSize condition in bytes, numbers written as digits (AWS's parser reads them as integers).
_BYTES = re.compile(
    r"(not\s+)?(between\s+(-\s*)?\d+\s+and\s+(-\s*)?\d+"
    r"|in\s*\[\s*(-\s*)?\d+(\s*,\s*(-\s*)?\d+)*\s*\]|(!\s*=|[<>]=?|=)\s*(-\s*)?\d+)"
)
_ORDERING = (">", ">=", "<", "<=", "between", "not between")
_CLOCK_12 = re.compile(r"^\s*(1[0-2]|0?[1-9]):([0-5]\d)\s*([AaPp][Mm])\s*$")
_CLOCK_24 = re.compile(r"^\s*([01]?\d|2[0-3]):([0-5]\d)\s*$")


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


def clock_of(text: str) -> time | None:
    """A time of day written as the reference writes it ("9:30 PM", "21:30"), or None."""
    match = _CLOCK_12.match(text)
    if match:
        hour = int(match.group(1)) % 12 + (12 if match.group(3).upper() == "PM" else 0)
        return time(hour, int(match.group(2)))
    match = _CLOCK_24.match(text)
    if match:
        return time(int(match.group(1)), int(match.group(2)))
    return None


class _Loader:
    """Turns the parse tree into model objects, enforcing the reference's load-time checks."""

    def __init__(self, text: str, source: str) -> None:
        self.text = text
        self.source = source
        self.variables: dict[str, model.Value | list[model.Value]] = {}
        self.default_labels: dict[str, str] = {}

    def fail(self, node: Tree | Token, problem: str, error=InvalidRuleError) -> DataQualityError:
        line, column = _position(node)
        return error(f"{self.source}:{line}:{column}: {problem}")

    def span(self, node: Tree) -> str:
        return self.text[node.meta.start_pos : node.meta.end_pos].strip()

    def load(self, tree: Tree) -> model.Ruleset:
        metadata: dict[str, object] = {}
        additional: dict[str, str] = {}
        rules: list[model.AnyRule] = []
        analyzers: list[model.Rule] = []
        for child in tree.children:
            if child.data == "metadata":
                metadata.update(self.dictionary(child, METADATA_KEYS, "Metadata"))
            elif child.data == "data_sources":
                sources = self.dictionary(child, DATA_SOURCES_KEYS, "DataSources")
                metadata["DataSources"] = sources
                additional = self.additional_sources(child, sources)
            elif child.data == "default_labels":
                if self.default_labels:
                    raise self.fail(child, "DefaultLabels is given twice; put them in one list")
                self.default_labels = self.label_list(child.children[0], {})
            elif child.data == "variable":
                self.variable(child)
        for child in tree.children:
            if child.data == "rules":
                rules = [self.rule_tree(item) for item in child.children if item is not None]
            elif child.data == "analyzers":
                analyzers = [self.analyzer(item) for item in child.children if item is not None]
        if not rules and not analyzers:
            raise self.fail(
                tree.children[-1],
                "no rules or analyzers: write at least one rule inside Rules = [ ... ] "
                "(DQDL rejects an empty ruleset)",
            )
        return model.Ruleset(
            rules=rules,
            source=self.source,
            metadata=metadata,
            default_labels=self.default_labels,
            analyzers=analyzers,
            additional_sources=additional,
        )

    def dictionary(self, section: Tree, allowed: tuple[str, ...], name: str) -> dict[str, object]:
        entries: dict[str, object] = {}
        for pair in section.children[0].children:
            if pair is None:
                continue
            key_token, value = pair.children
            key = _unquote(key_token)
            if key not in allowed:
                raise self.fail(
                    key_token,
                    f"{name} has no key '{key}'; the keys DQDL knows are: {', '.join(allowed)}",
                )
            if isinstance(value, Tree):
                entries[key] = [_unquote(item) for item in value.children if item is not None]
            else:
                entries[key] = _unquote(value)
        return entries

    def additional_sources(self, section: Tree, sources: dict[str, object]) -> dict[str, str]:
        names = sources.get("AdditionalDataSources")
        if names is None:
            return {}
        if not isinstance(names, list):
            raise self.fail(
                section,
                'AdditionalDataSources must be a list of names, e.g. "AdditionalDataSources": '
                '["reference"]',
            )
        return {alias: alias for alias in names}

    def variable(self, node: Tree) -> None:
        name_token, value = node.children
        name = str(name_token)
        if name.startswith("_"):
            raise self.fail(
                name_token, f"variable name '{name}' cannot start with '_'", InvalidVariableError
            )
        if name in self.variables:
            raise self.fail(
                name_token,
                f"variable '{name}' is already defined; give each variable one definition",
                InvalidVariableError,
            )
        for token in value.scan_values(lambda t: isinstance(t, Token) and t.type == "STRING"):
            self.quoted(token, "a variable's value")
        if isinstance(value, Tree) and value.data == "variable_list":
            items = [self.text_value(item) for item in value.children if item is not None]
            if not items:
                raise self.fail(
                    name_token, f"variable '{name}' is an empty list", InvalidVariableError
                )
            self.variables[name] = items
        else:
            self.variables[name] = self.text_value(value)

    def resolve(self, token: Token, place: str, lists: bool) -> model.Value | list[model.Value]:
        name = str(token)[1:]
        if name not in self.variables:
            known = ", ".join(f"${n}" for n in self.variables) or "none"
            raise self.fail(
                token,
                f"variable '${name}' is not defined (defined: {known}); define it before Rules, "
                f'e.g. {name} = "..."',
                InvalidVariableError,
            )
        value = self.variables[name]
        if isinstance(value, list) and not lists:
            raise self.fail(
                token,
                f"variable '${name}' is a list, but {place} takes a single string",
                InvalidVariableError,
            )
        if not isinstance(value, list) and value.kind != model.STRING and place != "a list":
            raise self.fail(
                token,
                f"variable '${name}' is {value.kind}, but {place} takes a quoted string",
                InvalidVariableError,
            )
        return value

    def quoted(self, token: Token, place: str) -> str:
        """A quoted string where AWS's grammar wants one: a date or time of day is not one there."""
        text = _unquote(token)
        if _DATE_TOKEN.fullmatch(text):
            raise self.fail(
                token,
                f"{token} reads as a date or time of day in DQDL, so it cannot be {place} "
                "(Glue's parser refuses it too)",
            )
        return text

    def resolve_text(self, token: Token, place: str) -> str:
        if token.type == "STRING":
            return self.quoted(token, place)
        if token.type == "NAME":
            return str(token)
        return self.resolve(token, place, lists=False).text

    def label_list(self, node: Tree, defaults: dict[str, str]) -> dict[str, str]:
        labels = [label for label in node.children if label is not None]
        if not labels:
            raise self.fail(
                node, "a label list cannot be empty: give at least one label or drop it"
            )
        if len(defaults) + len(labels) > MAX_LABELS:
            raise self.fail(
                node,
                f"too many labels: {len(defaults)} default and {len(labels)} own exceed the maximum "
                f"of {MAX_LABELS} per rule",
            )
        own: dict[str, str] = {}
        for label in labels:
            key, value = (self.quoted(token, "a label") for token in label.children)
            if not key or not value:
                raise self.fail(label, "a label key or value cannot be empty")
            if len(key) > MAX_LABEL_KEY:
                raise self.fail(
                    label, f"label key has {len(key)} characters, the maximum is {MAX_LABEL_KEY}"
                )
            if len(value) > MAX_LABEL_VALUE:
                raise self.fail(
                    label,
                    f"label value has {len(value)} characters, the maximum is {MAX_LABEL_VALUE}",
                )
            if key in own:
                raise self.fail(label, f"label key '{key}' is given twice; keys must be unique")
            own[key] = value
        return own

    def rule_tree(self, node: Tree) -> model.AnyRule:
        if node.data == "dq_rule":
            return self.dq_rule(node)
        if node.data == "parenthesised":
            rule = self.rule_tree(node.children[0])
            if len(node.children) > 1:
                own = self.label_list(node.children[1].children[-1], self.default_labels)
                rule = replace(rule, labels={**self.default_labels, **own})
            return rule
        operator = "and" if node.data == "and_rule" else "or"
        children = tuple(
            self.rule_tree(child) for child in node.children if isinstance(child, Tree)
        )
        return model.CompositeRule(
            operator,
            children,
            self.rule_text(node),
            node.meta.line,
            node.meta.column,
            labels=dict(self.default_labels),
        )

    def dq_rule(self, node: Tree) -> model.Rule:
        rule_type = self.known_type(node.children[0])
        if rule_type in ANALYZER_ONLY_TYPES:
            raise self.fail(
                node,
                f"{rule_type} only computes statistics: move it to Analyzers = [ ... ]",
                UnsupportedRuleError,
            )
        parameters: list[str] = []
        condition = threshold = where = None
        condition_text = ""
        tags: dict[str, model.Value] = {}
        own_labels: dict[str, str] | None = None
        for item in node.children[1:]:
            if item.data == "parameter":
                parameters.append(self.parameter(item))
            elif item.data == "where_clause":
                if rule_type not in WHERE_TYPES:
                    raise self.fail(item, f"{rule_type} does not take a where clause")
                where = self.resolve_text(item.children[1], "a where clause")
                if not where:  # AWS's "Empty where condition"; blanks load and fail when run
                    raise self.fail(item, "the where clause is empty; write a condition or drop it")
            elif item.data == "tag":
                name = str(item.children[1])
                if name.lower() == "threshold":
                    if threshold is not None:
                        raise self.fail(item, "'with threshold' is given twice; keep one")
                    threshold = self.condition(item.children[2])
                else:
                    tags[name] = self.tag_value(item, name, tags)
            elif item.data == "labels":  # at most once: the grammar's `labels?`
                own_labels = self.label_list(item.children[-1], self.default_labels)
            else:
                condition = self.condition(item)
                condition_text = self.span(item)
        self.condition_fits(node, rule_type, condition, len(parameters), condition_text)
        if threshold is not None and rule_type not in THRESHOLD_TYPES:
            raise self.fail(node, f"{rule_type} does not take 'with threshold'")
        if threshold is not None and "number" not in _families(threshold):
            raise self.fail(
                node, "'with threshold' compares with numbers, e.g. with threshold > 0.9"
            )
        return model.Rule(
            rule_type=rule_type,
            parameters=tuple(parameters),
            condition=condition,
            threshold=threshold,
            where=where,
            text=self.rule_text(node),
            line=node.meta.line,
            column=node.meta.column,
            labels={**self.default_labels, **(own_labels or {})},
            tags=tags,
        )

    def condition_fits(
        self,
        node: Tree,
        rule_type: str,
        condition: model.Condition | None,
        parameters: int,
        text: str,
    ) -> None:
        """The condition is of a kind the rule type returns (AWS's parser refuses the others)."""
        allowed = CONDITIONS.get(rule_type, ("number",))
        if rule_type == "FileMatch":
            allowed = (None,) if parameters >= 2 else ("string",)
        if condition is None:
            if None not in allowed:
                raise self.fail(
                    node, f"{rule_type} needs a condition, e.g. {_EXAMPLES[allowed[0]]}"
                )
            return
        families = _families(condition)
        if rule_type == "FileSize" and not _BYTES.fullmatch(re.sub(r"[()]", "", text)):
            families.discard("number")  # bytes: whole numbers as written, no expression
        if not families & set(allowed):
            if allowed == (None,):
                raise self.fail(node, f"{rule_type} passes or fails by itself: drop the condition")
            kinds = " or ".join(kind for kind in allowed if kind)
            raise self.fail(
                node,
                f"{rule_type} compares with a {kinds}, e.g. {_EXAMPLES[allowed[0]]}",
            )

    def rule_text(self, node: Tree) -> str:
        """The rule as written, without labels (they travel apart, as Glue's ``Labels``)."""
        start, end = node.meta.start_pos, node.meta.end_pos
        pieces = []
        for labels in sorted(node.find_data("labels"), key=lambda tree: tree.meta.start_pos):
            if start <= labels.meta.start_pos and labels.meta.end_pos <= end:
                pieces.append(self.text[start : labels.meta.start_pos].strip())
                start = labels.meta.end_pos
        pieces.append(self.text[start:end].strip())
        text = ""
        for piece in filter(None, pieces):
            text += piece if not text or piece.startswith(")") else " " + piece
        return text

    def known_type(self, token: Token) -> str:
        """The rule type, when DQDL has it; otherwise an error suggesting the nearest one."""
        rule_type = str(token)
        if rule_type not in DQDL_RULE_TYPES:
            near = difflib.get_close_matches(rule_type, sorted(DQDL_RULE_TYPES), n=1)
            hint = f"did you mean {near[0]}?" if near else "see docs/dqdl.md for the list"
            raise self.fail(
                token, f"'{rule_type}' is not a DQDL rule type; {hint}", UnsupportedRuleError
            )
        return rule_type

    def analyzer(self, node: Tree) -> model.Rule:
        rule_type = self.known_type(node.children[0])
        if rule_type in BOOLEAN_RULE_TYPES:
            raise self.fail(
                node,
                f"{rule_type} gives a pass/fail, not a metric, so it cannot be an analyzer "
                "(Glue's parser would accept it, and compute nothing): move it to Rules = [ ... ]",
            )
        return model.Rule(
            rule_type=rule_type,
            parameters=tuple(self.analyzer_parameter(item) for item in node.children[1:]),
            condition=None,
            threshold=None,
            where=None,
            text=self.span(node),
            line=node.meta.line,
            column=node.meta.column,
        )

    def analyzer_parameter(self, node: Tree) -> str:
        """AWS's parser does not resolve an analyzer's variables: an undefined one stays as written
        (and computes nothing when it runs)."""
        try:
            return self.parameter(node)
        except InvalidVariableError:
            return str(node.children[-1])

    def parameter(self, node: Tree) -> str:
        return self.resolve_text(node.children[-1], "a rule parameter")

    def tag_value(self, node: Tree, name: str, tags: dict[str, model.Value]) -> model.Value:
        for key in [key for key in tags if key.lower() == name.lower()]:
            del tags[key]  # given twice: the last one counts, as in AWS's parser's map of tags
        if len(node.children) == 4:  # with name = ["a", "b"]
            if str(node.children[2]) != "=":
                raise self.fail(node, f"tag '{name}' takes '=', as in with {name} = [\"a\", \"b\"]")
            items = tuple(_unquote(item) for item in node.children[3].children if item is not None)
            return model.Value(model.LIST, items=items)
        condition_node = node.children[2]
        condition = self.condition(condition_node)
        if not {"string", "number"} & _families(condition):
            raise self.fail(node, f"tag '{name}' takes a number or a quoted string")
        if condition.operator != "=":
            raise self.fail(
                node,
                f"tag '{name}' takes '=', as in with {name} = \"value\" (only threshold compares)",
            )
        return condition.values[0]

    def condition(self, node: Tree) -> model.Condition:
        kind = node.data
        negated = isinstance(node.children[0], Token) and node.children[0].type == "NOT"
        prefix = "not " if negated else ""
        if kind == "compare":
            if isinstance(node.children[1], Tree) and node.children[1].data == "variable":
                raise self.fail(
                    node.children[1],
                    f"a variable after '{node.children[0]}' makes Glue's parser fail; write the value "
                    f"itself, or a list variable with in",
                    InvalidVariableError,
                )
            value = self.operand(node.children[1], "a comparison")
            return model.Condition(str(node.children[0]), (value,))
        if kind == "between":
            low, high = node.children[-3], node.children[-1]
            values = (self.operand(low, "between"), self.operand(high, "between"))
            self.one_type(node, values)
            return model.Condition(prefix + "between", values)
        if kind == "in_set":
            values = []
            for item in node.children:
                if isinstance(item, Token) and item.type in ("NOT", "IN"):
                    continue
                if isinstance(item, Tree) and item.data == "variable":
                    self.resolve(item.children[0], "a list", lists=True)
                    raise self.fail(
                        item,
                        f"a variable inside [ ... ] makes Glue's parser fail; write the values "
                        f"themselves, or a list variable alone: in {item.children[0]}",
                        InvalidVariableError,
                    )
                else:
                    values.append(self.operand(item, "a list"))
            self.one_type(node, values)
            return model.Condition(prefix + "in", tuple(values))
        if kind == "in_variable":
            resolved = self.resolve(node.children[-1], "a list", lists=True)
            values = resolved if isinstance(resolved, list) else [resolved]
            return model.Condition(prefix + "in", tuple(values))
        pattern = self.resolve_text(node.children[-1], "matches")
        return model.Condition(
            prefix + "matches", (model.Value(model.STRING, text=pattern, clock=clock_of(pattern)),)
        )

    def one_type(self, node: Tree, values) -> None:
        families = {_family(value) for value in values} - {None}
        if len(families) > 1 and families != {"text", "date"}:
            raise self.fail(
                node,
                "a list or range mixes types ("
                + ", ".join(sorted(families))
                + "); write every value of one type, e.g. all numbers or all quoted strings",
            )

    def text_value(self, node: Tree) -> model.Value:
        if node.data == "string":
            text = _unquote(node.children[0])
            return model.Value(model.STRING, text=text, clock=clock_of(text))
        return model.Value(
            {"null": model.NULL, "empty": model.EMPTY, "whitespaces_only": model.WHITESPACES_ONLY}[
                node.data
            ]
        )

    def operand(self, node: Tree, place: str) -> model.Value:
        kind = node.data
        if kind in ("string", "null", "empty", "whitespaces_only"):
            return self.text_value(node)
        if kind == "variable":
            return self.resolve(node.children[0], place, lists=False)
        if kind == "now":
            return model.Value(model.NOW)
        if kind == "now_offset":
            _, sign, amount, unit = node.children
            self.whole(amount, "a duration")
            if str(sign) not in "+-":
                raise self.fail(sign, "now() takes + or - a duration, e.g. (now() - 3 days)")
            offset = float(amount) * _UNITS[str(unit)]
            return model.Value(model.NOW, offset=-offset if str(sign) == "-" else offset)
        if kind == "duration":
            self.whole(node.children[0], "a duration")
            return model.Value(
                model.DURATION, offset=float(node.children[0]) * _UNITS[str(node.children[1])]
            )
        if kind == "size":
            amount, unit = node.children
            if "." in str(amount):
                raise self.fail(amount, "a size is a whole number of B, KB, MB, GB or TB")
            return model.Value(
                model.SIZE,
                number=float(int(amount) * _SIZE_UNITS[str(unit)]),
                text=f"{amount} {unit}",
            )
        for signed in node.find_data("signed"):
            if str(signed.children[0]) != "-":
                raise self.fail(
                    signed, f"'{signed.children[0]}' cannot start a number; only a minus can"
                )
        expr = self.expression(node)
        if expr.lookback is None:
            try:
                number = expr.evaluate(expressions.no_history)
            except ZeroDivisionError as error:
                reason = f"{expr.text}: {error}"
                return model.Value(
                    model.EXPRESSION, expression=expressions.Unevaluable(reason, expr.text)
                )
            return model.Value(model.NUMBER, number=number)
        return model.Value(model.EXPRESSION, expression=expr)

    def whole(self, amount: Token, what: str) -> None:
        if "." in str(amount):
            raise self.fail(amount, f"{what} is a whole number of days, hours or minutes")

    def expression(self, node: Tree) -> expressions.Expr:
        text = self.span(node)
        kind = node.data
        if kind == "number":
            return expressions.Number(float(node.children[0]), text)
        if kind == "group":
            inner = self.expression(node.children[0])
            return _retext(inner, text)
        if kind == "signed":
            sign, number = node.children
            if str(sign) != "-":
                raise self.fail(sign, f"'{sign}' cannot start a number; only a minus sign can")
            return expressions.Number(-float(number), text)
        if kind == "binary":
            left, operator, right = node.children
            return expressions.Binary(
                str(operator), self.expression(left), self.expression(right), text
            )
        try:
            return self.call(node, text)
        except InvalidRuleError as error:  # Glue's grammar takes any function: Failed when it runs
            return expressions.Unevaluable(str(error).split(": ", 1)[-1], text)

    def call(self, node: Tree, text: str) -> expressions.Expr:
        name_token, *arguments = node.children
        name = str(name_token)
        arguments = [argument for argument in arguments if argument is not None]
        if name not in expressions.FUNCTIONS:
            raise self.fail(
                name_token,
                f"unknown function '{name}'; DQDL's are: {', '.join(expressions.FUNCTIONS)}",
            )
        if name == "last":
            last = self.last(node, text)
            if last.k != 1:
                raise self.fail(
                    node,
                    f"last({last.k}) is {last.k} values, not a number: reduce them, e.g. "
                    f"avg(last({last.k})), or take one with index(last({last.k}), 0)",
                )
            return last
        if name == "abs":
            if len(arguments) != 1:
                raise self.fail(node, "abs takes one number, e.g. abs(avg(last(3)) - 5)")
            return expressions.Abs(self.expression(arguments[0]), text)
        first = arguments[0] if arguments else None
        if not (
            isinstance(first, Tree) and first.data == "call" and str(first.children[0]) == "last"
        ):
            raise self.fail(
                node, f"{name} reads history: write {name}(last(k)), e.g. {name}(last(10))"
            )
        last = self.last(first, self.span(first))
        if name == "index":
            position = self.whole_number(
                node, arguments[1:], "index takes last(k) and a position, e.g. index(last(3), 0)", 0
            )
            if position >= last.k:
                raise self.fail(
                    node,
                    f"index {position} is outside last({last.k}); positions run 0 to {last.k - 1}",
                )
            return expressions.Index(last, position, text)
        if len(arguments) != 1:
            raise self.fail(node, f"{name} takes one argument, last(k)")
        return expressions.Aggregate(name, last, text)

    def last(self, node: Tree, text: str) -> expressions.Last:
        arguments = [argument for argument in node.children[1:] if argument is not None]
        k = self.whole_number(node, arguments, "last(k) takes one whole number k >= 1")
        return expressions.Last(k, text)

    def whole_number(self, node: Tree, arguments: list, problem: str, least: int = 1) -> int:
        if len(arguments) != 1 or arguments[0].data != "number":
            raise self.fail(node, problem)
        value = float(arguments[0].children[0])
        if value != int(value) or value < least:
            raise self.fail(node, problem)
        return int(value)


def _retext(expr: expressions.Expr, text: str) -> expressions.Expr:
    return replace(expr, text=text)


def _family(value: model.Value) -> str | None:
    if value.kind in (model.NUMBER, model.EXPRESSION):
        return "number"
    if value.kind in (model.STRING, model.EMPTY, model.WHITESPACES_ONLY):
        return "date" if value.text and _looks_like_date(value.text) else "text"
    if value.kind == model.NOW:
        return "date"
    if value.kind == model.NULL:
        return None
    return value.kind


def _looks_like_date(text: str) -> bool:
    try:
        datetime.fromisoformat(text.strip())
    except ValueError:
        return False
    return True


def _position(node: Tree | Token) -> tuple[int, int]:
    if isinstance(node, Token):
        return node.line, node.column
    if node.meta.empty:
        return 0, 0
    return node.meta.line, node.meta.column


def parse_dqdl(text: str, source: str = "<ruleset>") -> model.Ruleset:
    """Parse DQDL text with the language's own checks only, not whether this engine evaluates each rule.

    Raises DQDLSyntaxError, InvalidRuleError (or InvalidVariableError) or UnsupportedRuleError, each
    naming the line and column.
    """
    try:
        tree = _parser().parse(text)
    except UnexpectedInput as error:
        raise _trailing_text(error, text, source) or _syntax_error(error, text, source) from None
    return _Loader(text, source).load(tree)


def parse_ruleset(text: str, source: str = "<ruleset>") -> model.Ruleset:
    """Parse DQDL text and check every rule and analyzer against the engine's rule types (each
    time: ``quality_movies.dq.parse_ruleset`` keeps what this returns)."""
    ruleset = parse_dqdl(text, source)
    from quality_movies.dq.rules import as_metric_rule, validate_rule

    for leaf in ruleset.leaves:
        # UnevaluableRuleError: DQDL Glue's parser accepts, Failed with the reason when it runs
        with contextlib.suppress(UnevaluableRuleError):
            validate_rule(leaf, source)
    for analyzer in ruleset.analyzers:
        try:
            validate_rule(as_metric_rule(analyzer), source)
        except UnevaluableRuleError:
            pass
        except InvalidRuleError as error:
            at = f"{source}:{analyzer.line}:{analyzer.column}: "
            raise InvalidRuleError(
                f"{at}analyzer `{analyzer.text}` has no metric to compute here (Glue's parser "
                "would accept it): " + str(error).removeprefix(at)
            ) from None
    return ruleset


_EXAMPLES = {
    "number": "> 0.9",
    "string": '= "STRING"',
    "date": "> (now() - 1 days)",
    "duration": "<= 24 hours",
    "size": "< 2 MB",
}


def _families(condition: model.Condition) -> set[str]:
    """The kinds of AWS condition (number, string, date, duration, size) that can hold ``condition``."""
    families = {"number", "string", "date", "duration", "size"}
    for value in condition.values:
        if value.kind in (model.NUMBER, model.EXPRESSION):
            families &= {"number"}
        elif value.kind == model.NULL:
            families &= {"number", "string", "date"}
        elif value.kind in (model.EMPTY, model.WHITESPACES_ONLY):
            families &= {"string"}
        elif value.kind == model.STRING:
            families &= {"date"} if _DATE_TOKEN.fullmatch(value.text or "") else {"string"}
        elif value.kind == model.NOW:
            families &= {"date"}
        elif value.kind in (model.DURATION, model.SIZE):
            families &= {value.kind}
    if all(value.kind == model.NULL for value in condition.values):
        families &= {"number"}  # the g4's first alternative: `number: ... | NULL`
    if condition.operator.endswith("matches"):
        families &= {"string"}
    elif condition.operator in _ORDERING:
        families -= {"string"}
    return families


def _trailing_text(error: UnexpectedInput, text: str, source: str) -> DQDLSyntaxError | None:
    """Text after a complete ruleset: AWS's grammar has no end-of-file rule and ignores it; refused here,
    since it is most often a rule written outside the brackets."""
    position = getattr(error, "pos_in_stream", None)
    if not position or not text[:position].strip():
        return None
    try:
        _parser().parse(text[:position])
    except UnexpectedInput:
        return None
    found = text[position:].strip().split("\n", 1)[0][:40]
    return DQDLSyntaxError(
        source,
        error.line,
        error.column,
        ["end of ruleset"],
        f"'{found}'",
        "text after the closing ']' of the ruleset; Glue's parser would ignore it silently: "
        "move it inside the brackets or delete it",
    )


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
    return DQDLSyntaxError(source, line, column, expected, found, _hint(found, expected, text))


_MISCASED_BLOCK = re.compile(r"^\s*(rules|analyzers)\s*=\s*\[", re.IGNORECASE | re.MULTILINE)


def _hint(found: str, expected: list[str], text: str = "") -> str:
    """What to do about common slips: single-quoted strings, lists in parentheses, a ``rules`` or
    ``analyzers`` block not written ``Rules`` / ``Analyzers``."""
    written = {block.group(1) for block in _MISCASED_BLOCK.finditer(text)}
    for name in ("Rules", "Analyzers"):
        if name not in written and name.lower() in {w.lower() for w in written}:
            return f"did you mean {name}? the block is written {name} = [ ... ]"
    if found == "'" * 3:
        return 'DQDL strings are in double quotes: "..."'
    if found == "'('" and "'['" in expected:
        return "a list is written in square brackets: [ ... ]"
    return ""


def _end_position(text: str) -> tuple[int, int]:
    lines = text.split("\n")
    return len(lines), len(lines[-1]) + 1


__all__ = ["DataQualityError", "parse_dqdl", "parse_ruleset"]
