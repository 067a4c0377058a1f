"""The shape of a rule type, which each family module declares beside the code that plans it."""

from collections.abc import Callable
from dataclasses import dataclass

from quality_movies.dq import model
from quality_movies.dq.rules.base import LeafPlan, Names, RuleContext

Planner = Callable[[model.Rule, LeafPlan, RuleContext, Names, str], None]
Validator = Callable[[model.Rule, str], None]


@dataclass(frozen=True)
class RuleType:
    """A DQDL rule type: its parameters, condition kind, tags, row-level behaviour and planner.

    ``condition`` is "none", "numeric", "values" or "type"; ``validate`` adds checks of its own at
    load time; ``plan`` fills the leaf's SQL and decision; ``references`` names the other datasets a
    rule reads; ``tags`` are the ``with key = value`` tags it reads (any other is rejected).
    """

    name: str
    min_params: int
    max_params: int
    condition: str
    threshold: bool
    row_level: bool
    plan: Planner
    where: bool = True
    validate: Validator | None = None
    references: Callable[[model.Rule], list[str]] | None = None
    tags: tuple[str, ...] = ()
