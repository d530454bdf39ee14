"""Markdown tables from the raw results: medians over repeats for times, maxima for memory.

Targets are printed next to the measurements and never asserted: a noisy shared machine must not fail a run.
"""

from __future__ import annotations

from collections.abc import Callable
from statistics import median
from typing import Any

from bench.variants import VARIANTS

Result = dict[str, Any]

# (label, key, format, aggregate): rows of the per-input table, in pipeline order.
_ROWS: list[tuple[str, str, str, Callable]] = [
    ("audio (s)", "audio_s", "{:.1f}", median),
    ("model load (s)", "load_s", "{:.1f}", median),
    ("audio decode (s)", "audio_decode_s", "{:.2f}", median),
    ("speech detection (s)", "speech_s", "{:.2f}", median),
    ("chunk planning (s)", "chunk_plan_s", "{:.3f}", median),
    ("language-ID verdict (s)", "verdict_s", "{:.2f}", median),
    ("chunks", "chunks", "{:.0f}", median),
    ("features + prompt (s)", "features_s", "{:.2f}", median),
    ("encoder (s)", "encoder_s", "{:.2f}", median),
    ("encoder + prefill (s)", "prefill_s", "{:.2f}", median),
    ("decode phase (s)", "decode_phase_s", "{:.2f}", median),
    ("decode steps", "steps", "{:.0f}", median),
    ("decoded tokens (all rows)", "sequence_tokens", "{:.0f}", median),
    ("ms per step", "step_ms", "{:.0f}", median),
    ("ms per decoded token", "token_ms", "{:.1f}", median),
    ("generate overhead ms/step", "overhead_ms_per_step", "{:.1f}", median),
    ("cleanup (s)", "cleanup_s", "{:.3f}", median),
    ("total (s)", "total_s", "{:.2f}", median),
    ("RTF", "rtf", "{:.3f}", median),
    ("peak RSS (MB)", "peak_rss_mb", "{:.0f}", max),
    ("peak RSS after load (MB)", "load_peak_rss_mb", "{:.0f}", max),
]


def _aggregate(results: list[Result], key: str, how: Callable) -> float | None:
    values = [r[key] for r in results if r.get(key) is not None]
    return how(values) if values else None


def _cell(value: float | None, fmt: str) -> str:
    return "–" if value is None else fmt.format(value)


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def per_input_table(results: list[Result], input_name: str) -> str:
    """One column per variant, one row per stage."""
    variants = [v for v in VARIANTS if any(r["variant"] == v and r["input"] == input_name for r in results)]
    by_variant = {v: [r for r in results if r["variant"] == v and r["input"] == input_name] for v in variants}
    header = ["stage"] + [f"({v}) {VARIANTS[v]}" for v in variants]
    rows = [["precision", *(by_variant[v][0].get("dtype", "–") for v in variants)]]
    for label, key, fmt, how in _ROWS:
        cells = [_cell(_aggregate(by_variant[v], key, how), fmt) for v in variants]
        if any(cell != "–" for cell in cells):
            rows.append([label, *cells])
    repeats = max(len(rs) for rs in by_variant.values())
    return f"### {input_name} (median of {repeats} runs; RSS: max)\n\n" + _table(header, rows)


def _total(results: list[Result], variant: str, input_name: str) -> float | None:
    return _aggregate(
        [r for r in results if r["variant"] == variant and r["input"] == input_name], "total_s", median
    )


def summary_table(results: list[Result], inputs: list[str]) -> str:
    """Ratios and the team's targets, measured against the medians above."""
    rows = []
    for name in inputs:
        a, b, c = (_total(results, v, name) for v in "abc")
        c_rows = [r for r in results if r["variant"] == "c" and r["input"] == name]
        if b and c:
            rows.append([f"{name}: (c)/(b) total", f"{c / b:.3f}", "≤ 1.05 on the 30 s clip"])
        if a and c:
            rows.append([f"{name}: (a)/(c) total", f"{a / c:.2f}", "≥ 2.5"])
        if c_rows:
            rows.append([f"{name}: (c) RTF", f"{_aggregate(c_rows, 'rtf', median):.3f}", "≤ 0.35 on 10 min"])
            rows.append(
                [f"{name}: (c) cleanup (s)", f"{_aggregate(c_rows, 'cleanup_s', median):.3f}", "≤ 0.2"]
            )
    return "### Ratios and targets (not asserted)\n\n" + _table(["measure", "value", "target"], rows)


def long_table(results: list[Result]) -> str:
    """The 3-hour memory run next to its short baseline, both on the tiny checkpoint."""
    header = ["input", "audio decode (s)", "speech detection (s)", "chunks", "total (s)", "peak RSS (MB)"]
    rows = [
        [
            r["input"],
            f"{r['audio_decode_s']:.1f}",
            f"{r['speech_s']:.2f}",
            f"{r['chunks']}",
            f"{r['total_s']:.1f}",
            f"{r['peak_rss_mb']:.0f}",
        ]
        for r in results
    ]
    return "### 3-hour memory run (tiny checkpoint, pipeline (c) only)\n\n" + _table(header, rows)


def long_estimate(long_results: list[Result], real_results: list[Result]) -> str:
    """Real-model 3-hour peak ≈ real (c) peak on the longest input + what 3 hours add on the tiny model."""
    real_c = [r for r in real_results if r["variant"] == "c"]
    if len(long_results) < 2 or not real_c:
        return "3-hour real-model estimate: needs the long run and a real (c) run in the same invocation."
    growth = long_results[-1]["peak_rss_mb"] - long_results[0]["peak_rss_mb"]
    real_peak = max(r["peak_rss_mb"] for r in real_c)
    return (
        f"3-hour real-model peak RSS estimate: {real_peak:.0f} MB (real (c) peak) + {growth:.0f} MB "
        f"(tiny 3 h − tiny short) = **{real_peak + growth:.0f} MB** (target ≤ 6144 MB)"
    )
