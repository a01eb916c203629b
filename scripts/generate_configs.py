"""Write configs/<name>.json for every registered config class (default values) and its template variants.

python scripts/generate_configs.py           # rewrite configs/
python scripts/generate_configs.py --check   # exit 1 and list the files that drifted from the classes
"""

import argparse
import sys
from pathlib import Path

from robokit.config.templates import template_drift, write_templates
from robokit.utils.cli import run_script

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "configs"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", type=Path, default=DEFAULT_OUT, help="folder of the templates (configs/)")
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when a file drifted")
    args = parser.parse_args()
    if args.check:
        problems = template_drift(args.output_dir)
        for line in problems:
            print(line)
        if problems:
            print("run `python scripts/generate_configs.py` to regenerate the templates", file=sys.stderr)
            return 1
        print(f"{args.output_dir}: all templates up to date")
        return 0
    for path in write_templates(args.output_dir):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    run_script(main)
