"""Runs measurements interleaved (a, b, c, a, b, c, ...), one child process each.

Interleaving spreads slow drift (thermal, other load on the 2 cores) over all variants instead of charging it
to whichever ran last; a child per run makes load time and peak RSS belong to that variant alone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.variants import VARIANTS, RunSpec

REPO = Path(__file__).resolve().parent.parent


def run_child(spec: RunSpec) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter; raises with the child's log when it fails."""
    with tempfile.TemporaryDirectory(prefix="qwen-asr-bench-") as tmp:
        spec_path, out_path = Path(tmp) / "spec.json", Path(tmp) / "out.json"
        spec_path.write_text(json.dumps(asdict(spec)))
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        }
        done = subprocess.run(
            [sys.executable, "-m", "bench", "child", str(spec_path), str(out_path)],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0 or not out_path.is_file():
            raise RuntimeError(f"{spec.variant}/{spec.input_name} failed:\n{done.stderr[-4000:]}")
        return json.loads(out_path.read_text())


def child_main(spec_path: str, out_path: str) -> None:
    """Entry point of the child process (`python -m bench child SPEC OUT`)."""
    from bench.variants import run

    spec = RunSpec(**json.loads(Path(spec_path).read_text()))
    Path(out_path).write_text(json.dumps(run(spec)))


def interleaved(specs_per_repeat: Iterable[list[RunSpec]]) -> list[dict[str, Any]]:
    """Run each group (one repeat of every variant) in order, printing a line per run as it finishes."""
    results = []
    for group in specs_per_repeat:
        for spec in group:
            result = run_child(spec)
            print(
                f"  {spec.input_name:>6} #{spec.repeat + 1} ({spec.variant}) {VARIANTS[spec.variant]:<15}"
                f" total {result['total_s']:7.2f} s  RTF {result['rtf']:.3f}"
                f"  peak RSS {result['peak_rss_mb']:6.0f} MB",
                flush=True,
            )
            results.append(result)
    return results
