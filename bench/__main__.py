"""`python -m bench [run|profile|langid|startup|diarize|server|live|api] [flags]`; see bench/README.md."""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from bench import assets
from bench.api import add_parser as add_api_parser
from bench.live import add_parser as add_live_parser
from bench.report import long_estimate, long_table, per_input_table, summary_table
from bench.runner import child_main, interleaved
from bench.variants import VARIANTS, RunSpec


def seconds_of(name: str) -> float:
    """ "30s" -> 30, "10min" -> 600: inputs are named by their length."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(s|min)", name)
    if not match:
        raise argparse.ArgumentTypeError(f"input names look like 30s or 10min, not {name!r}")
    return float(match[1]) * (60 if match[2] == "min" else 1)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run", help="interleaved (a)/(b)/(c) timings (the default)")
    run.add_argument("--inputs", default="30s,10min", help="comma-separated lengths, e.g. 30s,10min")
    run.add_argument("--variants", default="abc", help="subset of a, b, c ('' with --long: memory only)")
    run.add_argument("--repeats", type=int, default=3)
    run.add_argument("--tokens-per-second", type=float, default=3.5)
    run.add_argument("--tag-tokens", type=int, default=3, help="tokens of 'language X<asr_text>' per call")
    run.add_argument("--batch-size", type=int, default=None, help="pipeline batch (default: the app's)")
    run.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    run.add_argument("--long", action="store_true", help="also the 3-hour memory run (tiny checkpoint)")
    run.add_argument("--quick", action="store_true", help="smoke test: one 10 s input, 1 repeat, few tokens")
    run.add_argument("--json", type=Path, help="write every raw result here")
    profile = sub.add_parser("profile", help="where a decode step's time goes, batch 1 vs 8")
    profile.add_argument("--batches", default="1,8")
    profile.add_argument("--chunk-seconds", type=float, default=20.0)
    profile.add_argument("--steps", type=int, default=12, help="decode steps measured per setting")
    profile.add_argument("--top", type=int, default=12, help="ops listed from torch.profiler")
    profile.add_argument(
        "--experiments",
        default="threads,eager,static,plain,bf16,fp16",
        help="comma-separated subset of threads,eager,static,plain,bf16,fp16,int8",
    )
    profile.add_argument("--int8", action="store_true", help="add int8 dynamic quantization (+ agreement)")
    profile.add_argument("--quick", action="store_true", help="smoke test: 4 steps, 5 s chunks")
    langid = sub.add_parser("langid", help="cost of the language check: refused vs accepted vs none")
    langid.add_argument("--seconds", type=float, default=30.0)
    langid.add_argument("--repeats", type=int, default=3)
    langid.add_argument("--tokens-per-second", type=float, default=3.5)
    langid.add_argument("--tag-tokens", type=int, default=3)
    langid.add_argument("--quick", action="store_true", help="tiny checkpoint, for a smoke test")
    startup = sub.add_parser("startup", help="start command -> page usable, and the background model load")
    startup.add_argument("--repeats", type=int, default=3)
    startup.add_argument("--quick", action="store_true", help="tiny checkpoint, for a smoke test")
    diarize = sub.add_parser("diarize", help="speaker error rates on real voices, and the stage's cost")
    diarize.add_argument("--no-cost", action="store_true", help="skip the 10-minute transcription run")
    diarize.add_argument(
        "--recordings", type=Path, help="a folder of <name>/audio.* + <name>/ref.rttm real recordings to add"
    )
    diarize.add_argument(
        "--known",
        action="store_true",
        help="only the known-voices table: clips cut from one recording name the speakers of another",
    )
    server = sub.add_parser("server", help="in-process vs a vLLM server on this CPU: one user and a team")
    server.add_argument("--minutes", type=float, default=10.0, help="audio per measurement")
    server.add_argument(
        "--at-once", type=int, default=8, help="recordings at once (sharing --minutes); 0: one only"
    )
    server.add_argument("--tokens-per-second", type=float, default=3.5)
    server.add_argument(
        "--dtype", default=None, help="both engines' precision (default: the app's; vLLM bf16)"
    )
    server.add_argument(
        "--in-flight", default="8,32", help="vLLM: one recording's requests in flight, each measured"
    )
    server.add_argument("--kv-cache-gib", type=int, default=2, help="vLLM's CPU KV cache")
    server.add_argument("--repeats", type=int, default=1, help="runs of each measurement (median shown)")
    server.add_argument("--json", type=Path, help="write the raw results here")
    live = add_live_parser(sub)
    api = add_api_parser(sub)
    child = sub.add_parser("child")  # internal: one measurement in a fresh process
    child.add_argument("spec")
    child.add_argument("out")
    for command in (run, profile, langid, startup, diarize, server, live, api):
        command.add_argument("--cache", type=Path, default=None, help="where inputs and checkpoints live")
    return parser


def _run(args: argparse.Namespace) -> None:
    if args.quick:
        args.inputs, args.repeats, args.tokens_per_second, args.tag_tokens = "10s", 1, 0.5, 1
    root = assets.cache_dir(args.cache)
    names = args.inputs.split(",")
    real = str(assets.checkpoint(root))
    mp3s = {name: assets.speech_mp3(root, seconds_of(name)) for name in names}
    print(
        f"# Qwen3-ASR CPU bench — {args.tokens_per_second} tokens/s of audio + {args.tag_tokens} tag tokens\n"
    )
    results = []
    for name in names:
        pcm = str(assets.decoded_pcm(mp3s[name]))
        groups = [
            [
                RunSpec(
                    v,
                    name,
                    str(mp3s[name]),
                    pcm,
                    real,
                    args.tokens_per_second,
                    args.tag_tokens,
                    args.batch_size,
                    args.threads,
                    repeat,
                )
                for v in args.variants
                if v in VARIANTS
            ]
            for repeat in range(args.repeats)
        ]
        results += interleaved(groups)
    long_results = _long(args, root) if args.long else []
    print()
    if results:
        for name in names:
            print(per_input_table(results, name), end="\n\n")
        print(summary_table(results, names), end="\n\n")
    if long_results:
        print(long_table(long_results), end="\n\n")
        print(long_estimate(long_results, results))
    if args.json:
        args.json.write_text(json.dumps({"runs": results, "long": long_results}, indent=1))


def _long(args: argparse.Namespace, root: Path) -> list[dict]:
    """Pipeline (c) on the tiny checkpoint, a 30 s baseline then the 3-hour file: only memory matters."""
    tiny = str(assets.checkpoint(root, tiny=True))
    short = assets.speech_mp3(root, 30)
    long = assets.long_mp3(root, assets.speech_mp3(root, 600))
    specs = [
        RunSpec(
            "c",
            label,
            str(mp3),
            "",
            tiny,
            args.tokens_per_second,
            args.tag_tokens,
            args.batch_size,
            args.threads,
            0,
        )
        for label, mp3 in (("30s", short), ("3h", long))
    ]
    print("\n3-hour memory run (tiny checkpoint):")
    return interleaved([specs])


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0].startswith("-"):
        argv = ["run", *argv]
    args = _parser().parse_args(argv)
    if args.command == "child":
        child_main(args.spec, args.out)
    elif args.command == "langid":
        from bench.langid import langid_main

        langid_main(args)
    elif args.command == "diarize":
        from bench.diarize import main as diarize_main

        diarize_main(
            assets.cache_dir(args.cache), with_cost=not args.no_cost, extra=args.recordings, known=args.known
        )
    elif args.command == "startup":
        from bench.startup import startup_main

        startup_main(args)
    elif args.command == "server":
        from bench.server import server_main

        server_main(args)
    elif args.command == "live":
        from bench.live import live_main

        live_main(args)
    elif args.command == "api":
        from bench.api import api_main

        api_main(args)
    elif args.command == "profile":
        from bench.profile import profile_main

        profile_main(args)
    else:
        _run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
