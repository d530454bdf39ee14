"""`python -m bench.confidence [--batch 8 --tokens 40 --repeats 5]`: what the low-confidence marks cost.

The marks read, at every decoding step, the probability of the token greedy search chose
(`asr.engines.transformers_engine._TokenProbs`: one float32 log-sum-exp over the 151,936-word vocabulary per
row). This times the same `transcribe` call on the real 0.6B architecture (random weights, so every row
decodes exactly `--tokens` tokens) with the recorder as shipped and with it replaced by a pass-through,
interleaved A/B/A/B on one process so the shared machine's noise hits both alike, and prints the medians and
their ratio.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np

import asr.engines.transformers_engine as engine_module
from asr.engines.transformers_engine import AsrEngine
from bench.assets import cache_dir, checkpoint


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.confidence", description=__doc__)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--tiny", action="store_true", help="tiny checkpoint, for a smoke test")
    args = parser.parse_args()
    engine = AsrEngine.load(str(checkpoint(cache_dir(), tiny=args.tiny)))
    rng = np.random.default_rng(0)
    samples = int(16000 * args.seconds)
    clips = [(rng.standard_normal(samples) * 0.1).astype(np.float32) for _ in range(args.batch)]
    recorder = engine_module._TokenProbs.__call__

    def passthrough(self, input_ids, scores):  # the recorder's place in the call, doing nothing
        return scores

    def timed(record: bool) -> float:
        engine_module._TokenProbs.__call__ = recorder if record else passthrough  # type: ignore[method-assign]
        began = time.perf_counter()
        engine.transcribe(clips, language="English", max_new_tokens=args.tokens)
        return time.perf_counter() - began

    timed(True)  # warm-up
    on, off = [], []
    for _ in range(args.repeats):
        off.append(timed(False))
        on.append(timed(True))
    engine_module._TokenProbs.__call__ = recorder  # type: ignore[method-assign]
    ratios = [a / b for a, b in zip(on, off, strict=True)]
    print(
        json.dumps(
            {
                "batch": args.batch,
                "tokens": args.tokens,
                "with_marks_s_median": round(statistics.median(on), 3),
                "without_s_median": round(statistics.median(off), 3),
                "ratio_median": round(statistics.median(ratios), 4),
                "ratios": [round(r, 4) for r in ratios],
            }
        )
    )


if __name__ == "__main__":
    main()
