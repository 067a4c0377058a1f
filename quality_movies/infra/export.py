"""``quality-movies export-infra``: write the CloudFormation stack, ASL, event pattern and warehouse DDL.

The output is byte-stable for given settings, so the checked-in ``infra/`` folder can be compared with a
fresh export in tests and in review.
"""

import argparse
import json
from pathlib import Path
from typing import Any

import yaml

from quality_movies.infra.state_machine import (
    DEFAULT_CRAWLER_POLL_SECONDS,
    batch_state_machine_definition,
    event_pattern,
    state_machine_definition,
)
from quality_movies.infra.template import cloudformation_template
from quality_movies.infra.variants import VARIANTS, parameter_file
from quality_movies.settings import PipelineSettings

TEMPLATE_FILE = "template.yaml"
STATE_MACHINE_FILE = "step_function.json"
BATCH_STATE_MACHINE_FILE = "step_function_batched.json"
EVENT_PATTERN_FILE = "eventbridge_rule.json"
REDSHIFT_DDL_FILE = "redshift.sql"
PARAMETERS_DIR = "parameters"
REDSHIFT_DDL_SOURCE = Path(__file__).resolve().parent.parent / "warehouse" / "redshift.sql"


class _TemplateDumper(yaml.SafeDumper):
    """Block-style YAML that never emits anchors/aliases (CloudFormation does not accept them)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def render_yaml(document: dict[str, Any]) -> str:
    """YAML in the dict's own key order, wide lines, no aliases: same input, same bytes."""
    return yaml.dump(
        document,
        Dumper=_TemplateDumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=120,
    )


def render_json(document: dict[str, Any]) -> str:
    """Pretty JSON in the dict's own key order, with a final newline."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def export_infra(
    out_dir: Path,
    settings: PipelineSettings,
    *,
    crawler_poll_seconds: int = DEFAULT_CRAWLER_POLL_SECONDS,
) -> list[Path]:
    """Write the infra files for ``settings`` into ``out_dir``; return their paths.

    The template, the ASL of both trigger shapes (per file and batched), the event pattern, the
    warehouse DDL, and ``parameters/<variant>.json`` for each variant of the stack.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    contents = {
        TEMPLATE_FILE: render_yaml(
            cloudformation_template(settings, crawler_poll_seconds=crawler_poll_seconds)
        ),
        STATE_MACHINE_FILE: render_json(
            state_machine_definition(settings, crawler_poll_seconds=crawler_poll_seconds)
        ),
        BATCH_STATE_MACHINE_FILE: render_json(
            batch_state_machine_definition(settings, crawler_poll_seconds=crawler_poll_seconds)
        ),
        EVENT_PATTERN_FILE: render_json(event_pattern(settings)),
        **{
            f"{PARAMETERS_DIR}/{name}.json": render_json(parameter_file(parameters))
            for name, parameters in VARIANTS.items()
        },
    }
    (out_dir / PARAMETERS_DIR).mkdir(exist_ok=True)
    written = []
    for name, text in contents.items():
        path = out_dir / name
        path.write_bytes(text.encode("utf-8"))
        written.append(path)
    ddl = out_dir / REDSHIFT_DDL_FILE
    ddl.write_bytes(REDSHIFT_DDL_SOURCE.read_bytes())
    written.append(ddl)
    return written


def main(argv: list[str]) -> int:
    """Entry point of ``quality-movies export-infra [--out DIR] [--crawler-poll-seconds N]``."""
    parser = argparse.ArgumentParser(
        prog="quality-movies export-infra",
        description=(
            "Write the CloudFormation template, the Step Functions ASL, the EventBridge pattern and "
            "the Redshift DDL, named from PipelineSettings (QUALITY_MOVIES_* variables override them)."
        ),
    )
    parser.add_argument("--out", type=Path, default=Path("infra"), help="output folder (infra)")
    parser.add_argument(
        "--crawler-poll-seconds",
        type=int,
        default=DEFAULT_CRAWLER_POLL_SECONDS,
        help=f"seconds between crawler status checks ({DEFAULT_CRAWLER_POLL_SECONDS})",
    )
    args = parser.parse_args(argv)
    if args.crawler_poll_seconds < 1:
        parser.error(f"--crawler-poll-seconds must be at least 1, got {args.crawler_poll_seconds}")
    for path in export_infra(
        args.out, PipelineSettings.from_env(), crawler_poll_seconds=args.crawler_poll_seconds
    ):
        print(path)
    return 0
