"""Errors raised for unusable data-quality input: a bad ruleset, an unknown column, an unreadable file."""


class DataQualityError(Exception):
    """Base of every input error: the CLI turns these into exit code 2."""


class DQDLSyntaxError(DataQualityError):
    """The ruleset text is not valid DQDL; carries where it broke and what was expected."""

    def __init__(
        self,
        source: str,
        line: int,
        column: int,
        expected: list[str],
        found: str,
        hint: str = "",
    ) -> None:
        self.source = source
        self.line = line
        self.column = column
        self.expected = expected
        self.found = found
        wanted = ", ".join(expected) if expected else "end of ruleset"
        super().__init__(
            f"{source}:{line}:{column}: DQDL syntax error at {found}; expected one of: {wanted}"
            + (f" ({hint})" if hint else "")
        )


class UnsupportedRuleError(DataQualityError):
    """A rule type the engine cannot evaluate (rejected when the ruleset is loaded, never skipped)."""


class InvalidRuleError(DataQualityError):
    """A known rule type written with the wrong parameters or condition."""


class UnevaluableRuleError(InvalidRuleError):
    """DQDL that Glue's parser accepts but that cannot be evaluated as written (an unknown function, a tag
    the rule type does not read, a type name DQDL lacks...): the ruleset loads, and the rule is Failed
    with this reason when it runs, as in Glue."""


class UnknownColumnError(DataQualityError):
    """A rule names a column the data does not have."""


class UnreadableInputError(DataQualityError):
    """The data file is missing or cannot be parsed as CSV."""


class InvalidVariableError(InvalidRuleError):
    """A ``$name`` that no variable defines, or a variable used where its type does not fit."""


class NeedsHistoryError(Exception):
    """A dynamic expression (``avg(last(10))``...) asked for metric history that is missing or too short.

    Raised while evaluating, not loading: the engine turns it into a Failed rule with this reason.
    """
