"""Where the parser finds ``validate_rule``; the rule types live in ``quality_movies.dq.rules``."""

from quality_movies.dq.rules import RULE_TYPES, validate_rule

__all__ = ["RULE_TYPES", "validate_rule"]
