"""Differential fuzzing of our DQDL parser against AWS's own (awslabs/dqdl in ../shared/tools/aws-dqdl).

    PYTHONPATH=. .venv/bin/python benchmarks/dqdl_fuzz.py --count 10000 --seed 20261207

Generates ``--count`` rulesets (quality_movies_tests/dq/dqdl_fuzz.py: built from the grammar's parts and
mutated from the project's own rulesets), sends them through AWS's parser in batches (one JVM per batch)
and through ours, prints every disagreement, then one line of figures. Exit 1 when any remains.
"""

import argparse
import sys
import time
from collections import Counter

from quality_movies_tests.dq import aws_oracle, corpus, dqdl_fuzz


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=dqdl_fuzz.SEED)
    parser.add_argument("--batch", type=int, default=2_500, help="rulesets per JVM start")
    args = parser.parse_args()
    script = aws_oracle.oracle()
    if script is None:
        print(
            "AWS's DQDL parser (../shared/tools/aws-dqdl/run.sh) or Java is missing",
            file=sys.stderr,
        )
        return 2
    started = time.perf_counter()
    texts = dqdl_fuzz.generate(args.count, args.seed, real=list(corpus.everything().values()))
    kinds: Counter[str] = Counter()
    accepted = 0
    for first in range(0, len(texts), args.batch):
        batch = texts[first : first + args.batch]
        for index, (text, theirs) in enumerate(
            zip(batch, aws_oracle.aws_verdicts(batch, script), strict=True), start=first
        ):
            kind, ours = aws_oracle.classify(text, theirs)
            kinds[kind] += 1
            accepted += theirs.ok
            if kind == "different":
                print(f"#{index} {text!r}\n    AWS: {theirs}\n    ours: {ours}")
    print(
        f"{len(texts)} rulesets (seed {args.seed}): AWS accepted {accepted}; same verdict and counts "
        f"{kinds['same']}, documented stricter {kinds['stricter']}, documented more lenient "
        f"{kinds['lenient']}, disagreements {kinds['different']} ({time.perf_counter() - started:.0f} s)"
    )
    return 1 if kinds["different"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
