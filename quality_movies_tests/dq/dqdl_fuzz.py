"""Generated DQDL rulesets for differential testing against AWS's parser (fixed seed, reproducible).

Half are built from the language's parts (rule types with their parameters, conditions over numbers,
strings, dates, durations, sizes and times of day, numeric and dynamic expressions, where clauses, tags,
labels, nested composites, variables, Metadata, DataSources, DefaultLabels, Analyzers); the other half are
mutations of those and of the project's own rulesets (corpus.py): swapped rule types, odd spacing and case,
characters dropped or doubled, broken quotes, brackets and parentheses, comments, text after the end.
"""

import random

SEED = 20261207
RULE_TYPES = [
    ("RowCount", 0),
    ("ColumnCount", 0),
    ("Completeness", 1),
    ("IsComplete", 1),
    ("IsUnique", 1),
    ("IsPrimaryKey", 1),
    ("Uniqueness", 1),
    ("UniqueValueRatio", 1),
    ("DistinctValuesCount", 1),
    ("Entropy", 1),
    ("Mean", 1),
    ("Sum", 1),
    ("StandardDeviation", 1),
    ("Variance", 1),
    ("ColumnLength", 1),
    ("ColumnValues", 1),
    ("ColumnExists", 1),
    ("ColumnDataType", 1),
    ("ColumnNamesMatchPattern", 1),
    ("ColumnCorrelation", 2),
    ("DataFreshness", 1),
    ("CustomSql", 1),
    ("ReferentialIntegrity", 2),
    ("DatasetMatch", 2),
    ("SchemaMatch", 1),
    ("RowCountMatch", 1),
    ("AggregateMatch", 2),
    ("DetectAnomalies", 1),
    ("FileSize", 1),
    ("FileFreshness", 1),
    ("FileMatch", 2),
    ("FileUniqueness", 1),
    ("AllStatistics", 1),
]
COLUMNS = [
    '"imdb_rating"',
    '"col-A"',
    '"Order_Id"',
    "colB",
    '"a b"',
    "col_1",
    '"x"',
    '"2024-01-01"',
]
# Well-formed parameters and condition kinds per rule type (rules-config.json): "number", "values"
# (ColumnValues), "type", "duration", "size", "date", "none", "optional" (CustomSql, FileMatch).
WELL_FORMED = {
    "RowCount": ([], "number"),
    "ColumnCount": ([], "number"),
    "Completeness": (['"c"'], "number"),
    "Uniqueness": (['"c"'], "number"),
    "UniqueValueRatio": (["c"], "number"),
    "DistinctValuesCount": (['"c"'], "number"),
    "Entropy": (['of "c"'], "number"),
    "Mean": (['"c"'], "number"),
    "Sum": (['"c"'], "number"),
    "StandardDeviation": (['"c"'], "number"),
    "Variance": (['"c"'], "number"),
    "ColumnLength": (['"c"'], "number"),
    "ColumnCorrelation": (['"a" and "b"', '"a" "b"'], "number"),
    "IsComplete": (['"c"'], "none"),
    "IsUnique": (['"c"'], "none"),
    "IsPrimaryKey": (['"c"', '"a" "b"'], "none"),
    "ColumnExists": (['"c"'], "none"),
    "ColumnNamesMatchPattern": (['"[a-z_]+"'], "none"),
    "ColumnValues": (['"c"'], "values"),
    "ColumnDataType": (['"c"'], "type"),
    "DataFreshness": (['"d"'], "duration"),
    "CustomSql": (
        ['"select count(*) from primary"', '"select id from primary where x > 1"'],
        "optional",
    ),
    "ReferentialIntegrity": (['"c" "ref.c"', '"a,b" "ref.{a,b}"'], "number"),
    "DatasetMatch": (['"ref" "id"', '"ref" "id->rid" "x"'], "number"),
    "SchemaMatch": (['"ref"'], "number"),
    "RowCountMatch": (['"ref"'], "number"),
    "AggregateMatch": (['"sum(c)" "sum(ref.c)"'], "number"),
    "DetectAnomalies": (['"RowCount"', '"Completeness" "c"'], "none"),
    "FileSize": (['"s3://b/"', ""], "size"),
    "FileFreshness": (['"s3://b/"', ""], "date"),
    "FileMatch": (['"s3://a/" "s3://b/"'], "none"),
    "FileUniqueness": (['"s3://b/"', ""], "number"),
}
WHERE = {"RowCount", "Completeness", "IsComplete", "ColumnDataType", "ColumnCorrelation", "Uniqueness",
         "IsUnique", "Mean", "Sum", "StandardDeviation", "Variance", "Entropy", "DistinctValuesCount",
         "UniqueValueRatio", "ColumnLength", "IsPrimaryKey", "ColumnValues", "DataFreshness"}  # fmt: skip
THRESHOLD = {"ColumnDataType", "ColumnValues", "CustomSql", "FileFreshness", "FileSize"}
KEYWORDS = [
    "and",
    "AND",
    "or",
    "OR",
    "between",
    "in",
    "not",
    "matches",
    "with",
    "where",
    "labels",
    "of",
]


class Generator:
    def __init__(self, seed: int, real: list[str]) -> None:
        self.random = random.Random(seed)
        self.real = real

    def pick(self, items):
        return self.random.choice(items)

    def chance(self, p: float) -> bool:
        return self.random.random() < p

    def number(self) -> str:
        r = self.random.random()
        if r < 0.5:
            return str(self.random.randint(0, 100))
        if r < 0.75:
            return f"{self.random.random():.2f}"
        if r < 0.85:
            return "-" + str(self.random.randint(1, 9))
        return self.pick([".5", "1e3", "+1", "- 3", "0.0"])

    def numeric(self, depth: int = 0) -> str:
        r = self.random.random()
        if depth > 2 or r < 0.55:
            return self.number()
        if r < 0.7:
            return f"{self.numeric(depth + 1)} {self.pick('+-*/')} {self.numeric(depth + 1)}"
        if r < 0.8:
            return f"({self.numeric(depth + 1)})"
        function = self.pick(
            ["avg", "median", "min", "max", "sum", "std", "abs", "average", "multiply"]
        )
        inner = self.pick(
            [
                f"last({self.random.randint(0, 12)})",
                f"last({self.number()})",
                f"{self.pick(['avg', 'std'])}(last(3))",
                self.number(),
                "",
                f"last(3), {self.number()}",
            ]
        )
        if function == "abs":
            inner = self.numeric(depth + 1)
        call = f"{function}({inner})"
        if self.chance(0.2):
            call = f"index(last({self.random.randint(1, 5)}), {self.random.randint(0, 5)})"
        return call

    def string(self) -> str:
        return self.pick(
            [
                '"US"',
                '"x y"',
                '"a\\"b"',
                '"[a-z]+"',
                '""',
                '"9:30 PM"',
                '"21:30"',
                '"2024-01-01"',
                "'q'",
            ]
        )

    def date(self) -> str:
        return self.pick(
            [
                '"2024-06-01"',
                "now()",
                f"(now() - {self.random.randint(1, 9)} {self.pick(['days', 'hours', 'minutes'])})",
                f"(now() + {self.random.randint(1, 9)} hours)",
                "(now() - 3 weeks)",
                "now() - 1 days",
                '"9:00 AM"',
                '"21:50"',
            ]
        )

    def duration(self) -> str:
        return f"{self.pick(['1', '3', '24', '2.5'])} {self.pick(['days', 'hours', 'minutes', 'weeks'])}"

    def size(self) -> str:
        return f"{self.pick(['2', '10', '1.5'])} {self.pick(['B', 'KB', 'MB', 'GB', 'TB', 'kb'])}"

    def operand(self, family: str) -> str:
        return {
            "number": self.numeric,
            "string": self.string,
            "date": self.date,
            "duration": self.duration,
            "size": self.size,
            "keyword": lambda: self.pick(["NULL", "EMPTY", "WHITESPACES_ONLY", "null", "empty"]),
        }[family]()

    def condition(self) -> str:
        family = self.pick(["number"] * 4 + ["string", "date", "duration", "size", "keyword"])
        operator = self.pick(["=", "!=", ">", ">=", "<", "<=", "between", "not between", "in", "not in",
                              "matches", "not matches", "! ="])  # fmt: skip
        if operator.endswith("between"):
            return f"{operator} {self.operand(family)} and {self.operand(family)}"
        if operator.endswith("in"):
            items = [self.operand(self.pick([family, family, "keyword"])) for _ in range(3)]
            body = ", ".join(items[: self.random.randint(1, 3)])
            return f"{operator} [{body}]" if self.chance(0.9) else f"{operator} $list"
        if operator.endswith("matches"):
            return f"{operator} {self.pick([self.string(), '$text', self.number()])}"
        return f"{operator} {self.operand(family)}"

    def well_formed(self) -> str:
        """A rule AWS's parser should accept: the rule type's parameters and kind of condition."""
        rule_type = self.pick(sorted(WELL_FORMED))
        parameters, kind = WELL_FORMED[rule_type]
        if kind == "optional":
            kind = self.pick(["number", "none"])
        condition = {
            "number": lambda: self.pick(
                [
                    f"> {self.number()}",
                    f"between {self.number()} and {self.number()}",
                    f"not in [{self.number()}, {self.number()}]",
                    f">= {self.numeric()}",
                    "= 1.0",
                ]
            ),
            "values": lambda: self.pick(
                [
                    "in [" + self.pick(['"US"', '"a b"', "NULL"]) + ", EMPTY]",
                    'matches "[A-Z]+"',
                    f"> {self.date()}",
                    f"between {self.number()} and {self.number()}",
                    '!= "x"',
                ]
            ),
            "type": lambda: self.pick(['= "INTEGER"', '= "DATE"', 'in ["STRING", "BOOLEAN"]']),
            "duration": lambda: f"<= {self.random.randint(1, 48)} hours",
            "size": lambda: self.pick(["< 2 MB", "between 1 KB and 5 GB", "> 10"]),
            "date": lambda: self.pick(["> (now() - 1 days)", '> "2024-01-01"', '< "9:30 PM"']),
            "none": lambda: "",
        }[kind]()
        parts = [rule_type, self.pick(parameters) if parameters else "", condition]
        if rule_type in WHERE and self.chance(0.2):
            parts.append('where "x > 1"')
        if self.chance(0.1):
            parts.append('labels = ["team" = "data"]')
        if rule_type in THRESHOLD and self.chance(0.2):
            parts.append("with threshold > 0.5")
        if self.chance(0.1):
            parts.append(
                self.pick(['with foo = "bar"', "with recentFiles = 2", 'with uriRegex = "x"'])
            )
        return " ".join(part for part in parts if part)

    def rule(self) -> str:
        if self.chance(0.6):
            return self.well_formed()
        rule_type, arity = self.pick(RULE_TYPES)
        if self.chance(0.05):
            rule_type = self.pick(["Completness", "RowCounts", "rowcount", "Monitor", "JobStatus"])
        parameters = []
        for i in range(max(0, arity + self.pick([0, 0, 0, 0, 1, -1]))):
            parameter = self.pick(COLUMNS)
            if rule_type == "CustomSql":
                parameter = self.pick(
                    ['"select count(*) from primary"', '"select id from primary where x > 1"',
                     '"select count(*) from db.table"', "$sql", '"select * from primary join ref"']
                )  # fmt: skip
            connector = self.pick(["", "", "", "of ", "and "]) if i or self.chance(0.2) else ""
            parameters.append(connector + parameter)
        parts = [rule_type, *parameters]
        if self.chance(0.8):
            parts.append(self.condition())
        if self.chance(0.15):
            clause = self.pick(['"x > 1"', "\"a = 'b'\"", '""', '"  "', "$where", '"((("'])
            parts.append(f"where {clause}")
        if self.chance(0.1):
            parts.append(
                f'labels = ["{self.pick(["team", "k"])}" {self.pick(["=", "=", ":"])} "v"]'
            )
        for _ in range(self.pick([0, 0, 0, 1, 2])):
            tag = self.pick(["threshold", "recentFiles", "uriRegex", "format", "ignoreCase", "foo"])
            value = (
                self.condition()
                if tag == "threshold"
                else "= " + self.pick([self.string(), self.number()])
            )
            parts.append(f"with {tag} {value}")
        return " ".join(parts)

    def composite(self, depth: int = 0) -> str:
        if depth > 2 or self.chance(0.6):
            rule = self.rule()
            return f"({rule})" if depth and self.chance(0.7) else rule
        joined = f" {self.pick(['and', 'or', 'AND', 'OR'])} ".join(
            self.composite(depth + 1) for _ in range(self.random.randint(2, 3))
        )
        labels = ' labels = ["a" = "b"]' if self.chance(0.1) else ""
        return f"({joined}){labels}" if depth or self.chance(0.3) else joined

    def ruleset(self) -> str:
        lines = []
        if self.chance(0.1):
            lines.append(
                self.pick(['Metadata = { "Version": "1.0" }', 'Metadata = { "Owner": "x" }'])
            )
        if self.chance(0.1):
            lines.append('DataSources = { "Primary": "p", "AdditionalDataSources": ["ref"] }')
        if self.chance(0.2):
            lines.append(self.pick(['list = ["US", "CA"]', 'text = "a"', 'sql = "select 1"',
                                    'where = "x > 1"', 'empty = ""', "_bad = \"x\""]))  # fmt: skip
        if self.chance(0.1):
            lines.append('DefaultLabels = ["team" = "data"]')
        sections = []
        if self.chance(0.9):
            rules = [self.composite() for _ in range(self.random.randint(1, 4))]
            sep = self.pick([",\n    ", ", ", ","])
            sections.append(f"Rules = [\n    {sep.join(rules)}\n]")
        if self.chance(0.15) or not sections:
            analyzers = [self.rule().split(" ", 2)[:2] for _ in range(self.random.randint(1, 3))]
            sections.append(f"Analyzers = [ {', '.join(' '.join(a) for a in analyzers)} ]")
        return "\n".join(lines + sections) + "\n"

    def mutate(self, text: str) -> str:
        for _ in range(self.random.randint(1, 3)):
            kind = self.random.randrange(9)
            if kind == 0:  # swap a rule type for another
                names = [name for name, _ in RULE_TYPES if name in text]
                if names:
                    text = text.replace(self.pick(names), self.pick(RULE_TYPES)[0], 1)
            elif kind == 1:  # odd case of a keyword
                word = self.pick(KEYWORDS)
                text = text.replace(f" {word} ", f" {self.pick([word.upper(), word.title()])} ", 1)
            elif kind == 2:  # odd spacing
                text = text.replace(
                    " ", self.pick(["  ", "\n", "\t", ""]), self.random.randint(1, 4)
                )
            elif kind in (3, 4):  # drop, double or insert a character
                if text:
                    at = self.random.randrange(len(text))
                    what = self.pick(['"', "[", "]", "(", ")", ",", "", text[at], "=", "#", "$"])
                    cut = at + (1 if kind == 3 else 0)
                    text = text[:at] + what + text[cut:]
            elif kind == 5:  # a comment line or text after the end
                text = self.pick(["# note\n" + text, text + self.pick(["# end", "x", " ]", "\n"])])
            elif kind == 6:  # nest a rule in a composite
                text = text.replace("Rules = [", f"Rules = [ ({self.rule()}) and ", 1)
            elif kind == 7:  # a tag, label or where clause on the first rule
                extra = self.pick([' with foo = "bar"', ' labels = ["k" = "v"]', ' where "x > 1"'])
                text = text.replace(",", extra + ",", 1)
            else:  # trailing comma
                text = text.replace("\n]", ",\n]", 1)
        return text


def generate(count: int, seed: int = SEED, real: list[str] | None = None) -> list[str]:
    """``count`` rulesets: built, built then mutated, and (when ``real`` is given) real ones mutated."""
    generator = Generator(seed, real or [])
    texts = []
    while len(texts) < count:
        r = generator.random.random()
        if r < 0.45:
            text = generator.ruleset()
        elif r < 0.75 or not generator.real:
            text = generator.mutate(generator.ruleset())
        else:
            text = generator.mutate(generator.pick(generator.real))
        if "\r" not in text and "----" not in text:
            texts.append(text)
    return texts
