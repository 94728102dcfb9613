"""The rows ``python -m bench`` prints and writes to ``bench/results.json``: each figure
beside its ceiling measured in the same run, their ratio, and issue 13's goal for it.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass
class Result:
    """One figure. ``ratio`` is ``value / ceiling`` (``None`` without a ceiling); ``goal`` is
    the ratio issue 13 asks for (``None`` where it names none, or an absolute target, which
    ``note`` states); ``better`` says which way the goal points."""

    name: str
    value: float
    unit: str
    ceiling_name: str | None = None
    ceiling: float | None = None
    goal: float | None = None
    better: str = "higher"  # higher | lower: ratio >= goal, or ratio <= goal
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.ceiling is None or not self.ceiling or math.isnan(self.ceiling + self.value):
            return None
        return self.value / self.ceiling

    @property
    def verdict(self) -> str:
        if self.goal is None or self.ratio is None:
            return ""
        met = self.ratio >= self.goal if self.better == "higher" else self.ratio <= self.goal
        return "met" if met else "missed"

    def as_json(self) -> dict[str, object]:
        row = {k: None if isinstance(v, float) and math.isnan(v) else v
               for k, v in asdict(self).items()}  # fmt: skip
        row["ratio"] = self.ratio
        keys = ("name", "value", "unit", "ceiling_name", "ceiling", "ratio", "goal")
        return {**{k: row[k] for k in keys}, "better": self.better, "note": self.note}


def write(results: list[Result], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [r.as_json() for r in results]
    path.write_text(json.dumps(rows, indent=2, allow_nan=False, default=str) + "\n")
