"""File rules: FileSize, FileFreshness, FileMatch and FileUniqueness over the evaluated file (no path)
or the files a path names, as ``RuleContext.files`` lists them."""

import re
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from quality_movies.dq import model
from quality_movies.dq.data_files import HASH_ALGORITHMS, DataFile
from quality_movies.dq.errors import InvalidRuleError, UnevaluableRuleError
from quality_movies.dq.rules.base import (
    ALL_PASS,
    LeafPlan,
    LeafResult,
    Names,
    RuleContext,
    compare_metric,
    fmt,
    metric_result,
    round_metric,
    where_in_source,
)
from quality_movies.dq.rules.spec import RuleType

FILE_COUNT = "Dataset.*.FileCount"


def _invalid(rule: model.Rule, source: str, how: str) -> UnevaluableRuleError:
    """A file rule Glue's parser accepts but that cannot run as written: Failed when it runs."""
    return UnevaluableRuleError(f"{where_in_source(rule, source)}`{rule.text}`: {how}")


def _tag_number(rule: model.Rule, key: str) -> int | None:
    value = rule.tag(key)
    return int(value.number) if value is not None and value.number is not None else None


FILTERS = ("recentFiles", "uriRegex")


def _filter_order(rule: model.Rule) -> tuple[str, ...]:
    """The order the filter tags apply in: ``filterOrder``'s, else recentFiles then uriRegex (the
    FileUniqueness / FileSize pages of the DQDL rule type reference, "filterOrder")."""
    order = rule.tag("filterOrder")
    if order is None:
        return FILTERS
    return tuple(name for item in order.items for name in FILTERS if name.lower() == item.lower())


def _files(rule: model.Rule, ctx: RuleContext, uri: str | None) -> list[DataFile]:
    """The files a rule looks at: ``uri``'s, else the evaluated file; ``uriRegex`` keeps those whose
    path matches, ``recentFiles = n`` the n most recently modified, in ``filterOrder``."""
    if ctx.files is None:
        return []
    files = ctx.files.list(uri) if uri else [ctx.files.current()]
    for name in _filter_order(rule):
        if name == "uriRegex" and (pattern := rule.tag("uriRegex")) is not None:
            files = [f for f in files if re.search(str(pattern.text), f.uri)]
        if name == "recentFiles" and (recent := _tag_number(rule, "recentFiles")):
            files = sorted(files, key=lambda f: f.last_modified, reverse=True)[:recent]
    return files


def _validate_filters(rule: model.Rule, source: str) -> None:
    """``filterOrder`` lists the filter tags (recentFiles, uriRegex), each once."""
    order = rule.tag("filterOrder")
    if order is None:
        return
    how = 'with filterOrder = ["uriRegex", "recentFiles"]'
    if order.kind != model.LIST:
        raise UnevaluableRuleError(
            f"{where_in_source(rule, source)}`{rule.text}`: filterOrder takes a list of tag names: {how}"
        )
    wanted = [item.lower() for item in order.items]
    known = {name.lower() for name in FILTERS}
    if not wanted or len(set(wanted)) != len(wanted) or not set(wanted) <= known:
        raise _invalid(
            rule,
            source,
            f"filterOrder lists recentFiles and uriRegex, each once ({how}); got {order}",
        )


def _path(rule: model.Rule) -> str | None:
    return str(rule.parameters[0]) if rule.parameters else None


def _no_files(rule: model.Rule) -> LeafResult:
    where = f"at {_path(rule)}" if _path(rule) else "to evaluate"
    return LeafResult(False, f"No files found {where}.", {FILE_COUNT: 0.0})


def _compliance(
    rule: model.Rule, ctx: RuleContext, name: str, passing: int, files: list[DataFile]
) -> LeafResult:
    """All files must pass, or the share that does meets ``with threshold``."""
    compliance = round_metric(passing / len(files))
    metrics = {name: compliance, FILE_COUNT: float(len(files))}
    threshold = rule.threshold or ALL_PASS
    result = metric_result(compliance, name, threshold, ctx)
    result.metrics = metrics
    if not result.passed:
        result.failure_reason = (
            f"{len(files) - passing} of {len(files)} file(s) do not meet the condition. "
            f"{name} = {fmt(compliance)} must be {threshold}."
        )
    return result


def _validate_size(rule: model.Rule, source: str) -> None:
    cond = rule.condition
    if cond is None or any(v.kind not in (model.SIZE, model.NUMBER) for v in cond.values):
        raise _invalid(rule, source, 'write FileSize "path" > 2 MB (units B, KB, MB, GB, TB)')


def _plan_size(rule: model.Rule, plan: LeafPlan, ctx: RuleContext, n: Names, source: str) -> None:
    def decide(values: dict[str, Any]) -> LeafResult:
        files = _files(rule, ctx, _path(rule))
        if not files:
            return _no_files(rule)
        passing = sum(compare_metric(float(f.size), rule.condition) for f in files)
        result = _compliance(rule, ctx, "Dataset.*.FileSize.Compliance", passing, files)
        result.metrics["Dataset.*.MaximumFileSize"] = float(max(f.size for f in files))
        result.metrics["Dataset.*.MinimumFileSize"] = float(min(f.size for f in files))
        return result

    plan.decide = decide


def _moment(value: model.Value, now: datetime, zone: str | None) -> datetime:
    """A FileFreshness operand as a UTC time: now() +/- offset, a date, or a time of day today
    (in the ``timeZone`` tag's zone when given, else UTC)."""
    if value.kind == model.NOW:
        return now + value.offset
    if value.clock is None:
        return datetime.fromisoformat(str(value.text).strip())
    if zone is None:
        return datetime.combine(now.date(), value.clock)
    from zoneinfo import ZoneInfo  # only for a timeZone tag (importing it costs about 1.5 ms)

    local_today = now.replace(tzinfo=UTC).astimezone(ZoneInfo(zone)).date()
    local = datetime.combine(local_today, value.clock, tzinfo=ZoneInfo(zone))
    return local.astimezone(UTC).replace(tzinfo=None)


def _validate_freshness(rule: model.Rule, source: str) -> None:
    cond = rule.condition
    how = 'write FileFreshness "path" > (now() - 24 hours), > "2024-01-01" or between "9:30 AM" and "9:30 PM"'
    if cond is None or cond.operator not in (">", ">=", "<", "<=", "=", "between", "not between"):
        raise _invalid(rule, source, how)
    zone = rule.tag("timeZone")
    if zone is not None:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(str(zone.text))
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidRuleError(  # AWS's parser reads the zone too, and refuses an unknown one
                f"{where_in_source(rule, source)}`{rule.text}`: timeZone '{zone.text}' is not a "
                "time zone name (e.g. America/New_York)"
            ) from None
    for value in cond.values:
        if value.kind == model.NOW or value.clock is not None:
            continue
        try:
            datetime.fromisoformat(str(value.text).strip())
        except ValueError:
            raise InvalidRuleError(  # AWS's parser reads the date too ("Error Parsing Date")
                f"{where_in_source(rule, source)}`{rule.text}`: '{value.text}' is not a date; {how}"
            ) from None


def _plan_freshness(
    rule: model.Rule, plan: LeafPlan, ctx: RuleContext, n: Names, source: str
) -> None:
    cond = rule.condition
    zone = rule.tag("timeZone")
    moments = [_moment(v, ctx.now, zone and str(zone.text)) for v in cond.values]
    if cond.operator.endswith("between"):
        moments = sorted(moments)  # `between now() and (now() - 45 minutes)` is written either way

    def fresh(modified: datetime) -> bool:
        stamp = modified.timestamp()
        bounds = [m.timestamp() for m in moments]
        numbers = model.Condition(
            cond.operator, tuple(model.Value(model.NUMBER, b) for b in bounds)
        )
        return compare_metric(stamp, numbers)

    def decide(values: dict[str, Any]) -> LeafResult:
        files = _files(rule, ctx, _path(rule))
        if not files:
            return _no_files(rule)
        passing = sum(fresh(f.last_modified) for f in files)
        return _compliance(rule, ctx, "Dataset.*.FileFreshness.Compliance", passing, files)

    plan.decide = decide


def _algorithm(rule: model.Rule) -> str:
    tag = rule.tag("hashAlgorithm")
    return str(tag.text).upper() if tag is not None else "SHA-256"


def _validate_match(rule: model.Rule, source: str) -> None:
    if _algorithm(rule) not in HASH_ALGORITHMS:
        raise _invalid(rule, source, f"hashAlgorithm is one of {', '.join(HASH_ALGORITHMS)}")
    cond = rule.condition
    if len(rule.parameters) == 2 and cond is None:
        return
    if (
        len(rule.parameters) > 1
        or cond is None
        or cond.operator not in ("=", "!=", "in", "not in")
        or any(v.kind != model.STRING for v in cond.values)
    ):
        raise _invalid(
            rule,
            source,
            'write FileMatch "path" in ["checksum", ...] or FileMatch "path" "other path"',
        )


def _plan_match(rule: model.Rule, plan: LeafPlan, ctx: RuleContext, n: Names, source: str) -> None:
    algorithm = _algorithm(rule)

    def by_checksum() -> LeafResult:
        files = _files(rule, ctx, _path(rule))
        if not files:
            return _no_files(rule)
        sums = {str(v.text).lower() for v in rule.condition.values}
        wanted = rule.condition.operator in ("=", "in")
        wrong = [f.uri for f in files if (f.digest(algorithm) in sums) != wanted]
        metrics = {FILE_COUNT: float(len(files))}
        if wrong:
            return LeafResult(
                False, f"{algorithm} checksum does not match for: {', '.join(wrong)}", metrics
            )
        return LeafResult(True, None, metrics)

    def by_other_files() -> LeafResult:
        first = _files(rule, ctx, str(rule.parameters[0]))
        second = _files(rule, ctx, str(rule.parameters[1]))
        if not first:
            return _no_files(rule)
        by_name = (tag := rule.tag("matchFileName")) is not None and str(
            tag.text if tag.text is not None else tag.number
        ).lower() in ("true", "1", "1.0")
        theirs = {(_name(f) if by_name else "", f.digest(algorithm)) for f in second}
        unmatched = [
            f.uri
            for f in first
            if ((_name(f) if by_name else ""), f.digest(algorithm)) not in theirs
        ]
        metrics = {FILE_COUNT: float(len(first) + len(second))}
        if unmatched:
            return LeafResult(
                False,
                f"No matching file in {rule.parameters[1]} for: {', '.join(unmatched)}",
                metrics,
            )
        return LeafResult(True, None, metrics)

    plan.decide = lambda values: by_checksum() if rule.condition is not None else by_other_files()


def _name(file: DataFile) -> str:
    return file.uri.rstrip("/").rsplit("/", 1)[-1]


def _plan_uniqueness(
    rule: model.Rule, plan: LeafPlan, ctx: RuleContext, n: Names, source: str
) -> None:
    # The share of files whose content no other file has (as Uniqueness does for values).
    def decide(values: dict[str, Any]) -> LeafResult:
        files = _files(rule, ctx, _path(rule))
        if not files:
            return _no_files(rule)
        contents = Counter(f.digest("SHA-256") for f in files)
        unique = sum(1 for f in files if contents[f.digest("SHA-256")] == 1)
        result = metric_result(
            unique / len(files), "Dataset.*.FileUniquenessRatio", rule.condition, ctx
        )
        result.metrics[FILE_COUNT] = float(len(files))
        return result

    plan.decide = decide


def _validate_all(rule: model.Rule, source: str, validate) -> None:
    _validate_filters(rule, source)
    if validate is not None:
        validate(rule, source)


def _file_rule(
    name: str, condition: str, planner, validate=None, params: int = 1, tags: tuple[str, ...] = ()
) -> RuleType:
    return RuleType(
        name,
        0,
        params,
        condition,
        threshold=name in ("FileSize", "FileFreshness"),
        row_level=False,
        where=False,
        plan=planner,
        validate=lambda rule, source: _validate_all(rule, source, validate),
        tags=(*FILTERS, "filterOrder", *tags),
    )


RULE_TYPES = [
    _file_rule("FileSize", "sizes", _plan_size, _validate_size),
    _file_rule(
        "FileFreshness", "moments", _plan_freshness, _validate_freshness, tags=("timeZone",)
    ),
    _file_rule(
        "FileMatch",
        "checksums",
        _plan_match,
        _validate_match,
        params=2,
        tags=("hashAlgorithm", "matchFileName"),
    ),
    _file_rule("FileUniqueness", "numeric", _plan_uniqueness),
]
