"""Compare two bench runs' targets: `.venv/bin/python -m bench.compare OLD.json [NEW.json]`.

NEW defaults to bench/latest.json. Prints each target's measured value in both runs, the change,
and the verdicts.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

LATEST = Path(__file__).resolve().parent / "latest.json"


def _value(target: dict) -> str:
    unit, v = target["unit"], target["measured"]
    return {"x": f"{v:.2f}×", "calls": f"{v:g}", "MB": f"{v:.1f} MB"}.get(unit, f"{v:.1f} {unit}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__)
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path, nargs="?", default=LATEST)
    args = parser.parse_args(argv)
    old, new = (json.loads(p.read_text()) for p in (args.old, args.new))
    print(f"old: {old['started_utc']} ({old['git']['commit'][:7]})   "
          f"new: {new['started_utc']} ({new['git']['commit'][:7]})")
    before = {t["key"]: t for t in old["targets"]}
    for t in new["targets"]:
        was = before.get(t["key"])
        change = (f"{(t['measured'] - was['measured']) / was['measured']:+.0%}"
                  if was and was["measured"] else "")
        print(f"  {t['label']:<58} {_value(was) if was else '-':>10} → {_value(t):>10} "
              f"{change:>6}  {'PASS' if was and was['pass'] else 'MISS' if was else '-'} → "
              f"{'PASS' if t['pass'] else 'MISS'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
