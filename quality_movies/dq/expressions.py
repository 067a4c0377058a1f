"""Numeric expressions of DQDL conditions: constants, ``+ - * /``, and functions of a metric's history.

A constant expression (``(4 + 6) / 2``) is folded to a number when the ruleset is parsed. One that reads
history (``avg(last(10)) * 0.8``, ``index(last(3), 0)``) stays an ``Expr``: the engine evaluates it with the
rule's earlier metric values. Functions, as the DQDL reference's dynamic rules define them: ``last(k)`` is
the last ``k`` values, ``avg``, ``median``, ``min``, ``max``, ``sum``, ``std`` reduce them, ``abs`` takes the
absolute value and ``index(last(k), i)`` picks the ``i``-th most recent (0 is the latest).
"""

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from quality_movies.dq.errors import NeedsHistoryError, UnevaluableRuleError

Previous = Callable[[int | None], list[float]]
"""``previous(k)``: the rule's metric values from earlier files, oldest first (the last ``k`` when given)."""

AGGREGATES: dict[str, Callable[[Sequence[float]], float]] = {
    "avg": statistics.fmean,
    "median": statistics.median,
    "min": min,
    "max": max,
    "sum": math.fsum,
    "std": statistics.pstdev,
}
FUNCTIONS = (*AGGREGATES, "abs", "index", "last")


class Expr:
    """A numeric expression; ``evaluate`` reads history through ``previous`` only when it needs it."""

    text: str

    def evaluate(self, previous: Previous) -> float:
        raise NotImplementedError

    @property
    def lookback(self) -> int | None:
        """The largest ``k`` of the ``last(k)`` calls inside, or None when the expression reads no history."""
        return None

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Unevaluable(Expr):
    """What the grammar accepts but this engine does not compute (``average(last(3))``, ``avg(std(last(3)))``,
    ``1 / 0``): evaluating it raises UnevaluableRuleError with ``reason``, so the rule is Failed."""

    reason: str
    text: str

    def evaluate(self, previous: Previous) -> float:
        raise UnevaluableRuleError(self.reason)

    @property
    def lookback(self) -> int | None:
        return 0


@dataclass(frozen=True)
class Number(Expr):
    value: float
    text: str

    def evaluate(self, previous: Previous) -> float:
        return self.value


@dataclass(frozen=True)
class Binary(Expr):
    operator: str
    left: Expr
    right: Expr
    text: str

    def evaluate(self, previous: Previous) -> float:
        left, right = self.left.evaluate(previous), self.right.evaluate(previous)
        if self.operator == "+":
            return left + right
        if self.operator == "-":
            return left - right
        if self.operator == "*":
            return left * right
        if right == 0:
            raise ZeroDivisionError(f"`{self.text}` divides by zero")
        return left / right

    @property
    def lookback(self) -> int | None:
        return _largest(self.left.lookback, self.right.lookback)


@dataclass(frozen=True)
class Last(Expr):
    """``last(k)``: the rule's last ``k`` metric values; a number only when ``k`` is 1."""

    k: int
    text: str

    def values(self, previous: Previous) -> list[float]:
        values = previous(self.k)
        if len(values) < self.k:
            raise NeedsHistoryError(
                f"`{self.text}` needs {self.k} earlier value(s) of this metric, "
                f"the history holds {len(values)}"
            )
        return values[-self.k :]

    def evaluate(self, previous: Previous) -> float:
        return self.values(previous)[-1]

    @property
    def lookback(self) -> int | None:
        return self.k


@dataclass(frozen=True)
class Aggregate(Expr):
    """``avg(last(k))``, ``min(last(k))``...: one number from the last ``k`` values."""

    function: str
    argument: Last
    text: str

    def evaluate(self, previous: Previous) -> float:
        return float(AGGREGATES[self.function](self.argument.values(previous)))

    @property
    def lookback(self) -> int | None:
        return self.argument.k


@dataclass(frozen=True)
class Index(Expr):
    """``index(last(k), i)``: the ``i``-th most recent of the last ``k`` values, 0 being the latest."""

    argument: Last
    position: int
    text: str

    def evaluate(self, previous: Previous) -> float:
        values = self.argument.values(previous)
        return values[-1 - self.position]

    @property
    def lookback(self) -> int | None:
        return self.argument.k


@dataclass(frozen=True)
class Abs(Expr):
    argument: Expr
    text: str

    def evaluate(self, previous: Previous) -> float:
        return abs(self.argument.evaluate(previous))

    @property
    def lookback(self) -> int | None:
        return self.argument.lookback


def no_history(k: int | None) -> list[float]:
    """The ``previous`` of a constant expression: asking for history is a bug, so it says so."""
    raise NeedsHistoryError("this expression reads no history")


def _largest(*ks: int | None) -> int | None:
    given = [k for k in ks if k is not None]
    return max(given) if given else None
