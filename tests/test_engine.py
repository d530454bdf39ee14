"""The engine loads a real Qwen3-ASR checkpoint through the users' code path and generates with it."""

from __future__ import annotations

import logging
import shutil
import threading
import time
from pathlib import Path

import huggingface_hub.constants
import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers.models.qwen3_asr.modeling_qwen3_asr import Qwen3ASREncoder

from asr.background import BackgroundLoad, load_backend
from asr.engines.cpu_tuning import OneDnnLinear, RowByRowEncoder, onednn_linear_pays
from asr.engines.loading import plan_device
from asr.engines.protocol import Aborted, Cancel
from asr.engines.qwen3_output import read_tokens
from asr.engines.transformers_engine import AsrEngine, choose_batch_size, fallback_dtype
from asr.errors import UserFacingError
from asr.model_source import DEFAULT_MODEL_ID, download_command, resolve_model_dir
from asr.settings import Settings
from bench.checkpoints import DOUBTED_PROBABILITY


def noise(seconds: float, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(int(16000 * seconds)) * 0.1).astype(np.float32)


def test_fp16_and_device_map_auto_on_cuda_bf16_or_fp32_on_cpu() -> None:
    gpu = plan_device(cuda_available=True)
    assert (gpu.device, gpu.dtype, gpu.device_map) == ("cuda", torch.float16, "auto")
    laptop = plan_device(cuda_available=False, native_bf16=False)
    assert (laptop.device, laptop.dtype, laptop.device_map) == ("cpu", torch.float32, None)
    server = plan_device(cuda_available=False, native_bf16=True)
    assert (server.device, server.dtype, server.device_map) == ("cpu", torch.bfloat16, None)
    assert plan_device(cuda_available=False, int8=True, native_bf16=True).dtype == torch.float32


def test_asr_dtype_overrides_the_choice() -> None:
    assert plan_device("bfloat16", cuda_available=False, native_bf16=False).dtype == torch.bfloat16
    assert plan_device("bfloat16", cuda_available=True).dtype == torch.bfloat16
    assert plan_device("float32", cuda_available=False, native_bf16=True).dtype == torch.float32


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_loads_the_checkpoint_and_generates_from_audio(random_checkpoint: Path, dtype) -> None:
    engine = AsrEngine.load(str(random_checkpoint), plan_device(dtype))
    assert engine.model.dtype == getattr(torch, dtype)
    [out] = engine.transcribe([noise(2.0)], max_new_tokens=6)
    assert 0 < out.tokens <= 6  # a real generate call ran and produced tokens
    assert isinstance(out.raw, str)


def test_a_checkpoint_that_says_a_line_is_parsed_into_language_and_text(english_checkpoint: Path) -> None:
    engine = AsrEngine.load(str(english_checkpoint))
    [out] = engine.transcribe([noise(3.0)])
    assert (out.language, out.text) == ("English", "hello world")
    assert out.language_prob is not None and out.language_prob > 0.9


def test_forced_language_is_carried_into_the_result(english_checkpoint: Path) -> None:
    engine = AsrEngine.load(str(english_checkpoint))
    [out] = engine.transcribe([noise(3.0)], language="Chinese")
    assert out.language == "Chinese"
    assert out.language_prob is None
    assert "language" not in out.raw  # the tag was prefilled, not generated


def test_the_probe_stops_right_after_the_tag(japanese_checkpoint: Path) -> None:
    engine = AsrEngine.load(str(japanese_checkpoint))
    probe = engine.probe_language(noise(3.0))
    [full] = engine.transcribe([noise(3.0)], max_new_tokens=50)
    # "language", " Japanese": no other language name starts with "Japanese", so <asr_text> is not waited for
    assert (probe.language, probe.state.generated) == ("Japanese", 2)
    assert probe.language_prob is not None and probe.language_prob > 0.9
    assert probe.seconds > 0
    assert full.tokens == 5 and full.text == "hello world"


def test_the_probe_costs_one_chunk_however_long_the_batch(japanese_checkpoint: Path) -> None:
    engine = AsrEngine.load(str(japanese_checkpoint))
    encoded: list[int] = []  # chunks through the audio encoder, per call

    def count(module, args, kwargs) -> None:
        encoded.append(len(kwargs.get("input_features", args[0] if args else None)))

    engine.model.model.audio_tower.register_forward_pre_hook(count, with_kwargs=True)
    engine.probe_language(noise(3.0))
    assert encoded == [1]
    encoded.clear()
    engine.transcribe([noise(3.0), noise(3.0, seed=1), noise(3.0, seed=2)], max_new_tokens=8)
    assert encoded == [3]


@pytest.mark.parametrize("others", [0, 1, 3])
def test_resuming_from_the_probe_gives_the_tokens_of_a_plain_batch(
    random_checkpoint: Path, others: int
) -> None:
    engine = AsrEngine.load(str(random_checkpoint), plan_device("float32"))
    clips = [noise(2.4, seed=7), noise(3.0, seed=1), noise(1.3, seed=2), noise(2.2, seed=3)][: others + 1]
    plain = engine.transcribe(clips, max_new_tokens=14)
    probe = engine.probe_language(clips[0])
    resumed = engine.transcribe(clips, max_new_tokens=14, resume=probe)
    assert [o.raw for o in resumed] == [o.raw for o in plain]
    assert [o.tokens for o in resumed] == [o.tokens for o in plain]
    # the probe's token probabilities carry over: row 0's words are scored as in a plain batch
    assert [[p.text for p in o.pieces] for o in resumed] == [[p.text for p in o.pieces] for o in plain]
    resumed_probs = [p.probability for o in resumed for p in o.pieces]
    assert resumed_probs == pytest.approx([p.probability for o in plain for p in o.pieces], abs=1e-3)


def test_resuming_a_line_that_says_english(english_checkpoint: Path) -> None:
    engine = AsrEngine.load(str(english_checkpoint))
    clips = [noise(3.0), noise(1.5, seed=1), noise(2.0, seed=2)]
    probe = engine.probe_language(clips[0])
    assert probe.language == "English"
    outputs = engine.transcribe(clips, max_new_tokens=20, resume=probe)
    assert [(o.language, o.text, o.tokens) for o in outputs] == [("English", "hello world", 5)] * 3
    assert outputs[0].language_prob == pytest.approx(probe.language_prob)


@pytest.mark.parametrize("forced", [None, "English"])
def test_each_word_carries_the_probability_generate_gave_it(doubtful_checkpoint: Path, forced) -> None:
    """The doubted word was chosen with ~0.3, the others with ~1: read from the real generate's scores,
    whether the language was detected (pieces start after the tag) or forced (no tag)."""
    engine = AsrEngine.load(str(doubtful_checkpoint))
    clips = [noise(2.0), noise(1.0, seed=1)]
    for output in engine.transcribe(clips, language=forced, max_new_tokens=20):
        assert output.text == "hello brave world"
        assert "".join(p.text for p in output.pieces) == output.text
        scored = {p.text.strip(): p.probability for p in output.pieces}
        assert scored["brave"] == pytest.approx(DOUBTED_PROBABILITY, abs=0.05)
        assert scored["hello"] > 0.99 and scored["world"] > 0.99


def test_a_character_split_over_byte_tokens_is_one_piece_and_an_unknown_id_spells_nothing(
    english_engine: AsrEngine,
) -> None:
    """A Chinese character is often two or three byte tokens: its piece waits for the last and takes the least
    sure of them. The real checkpoint's embedding has ids past its tokenizer (151,936 rows, ~151,665 tokens);
    one of those, generated, spells no text rather than breaking the job."""
    tokenizer = english_engine.processor.tokenizer
    ids = tokenizer.encode("龘", add_special_tokens=False)
    assert len(ids) > 1, "the tiny tokenizer spells 龘 in byte tokens"
    probs = [0.9, 0.4, 0.8][: len(ids)]
    unknown = len(tokenizer) + 7
    generated = torch.tensor([*ids, unknown, *tokenizer.encode("!", add_special_tokens=False)])
    pieces = read_tokens(english_engine._answer(generated, [*probs, 0.1, 1.0]), "English").pieces
    assert [(p.text, p.probability) for p in pieces] == [("龘", min(probs)), ("!", 1.0)]


def test_batched_and_one_by_one_generation_give_the_same_tokens(random_checkpoint: Path) -> None:
    """In float32: random weights leave near-ties that bf16 rounding may flip between paddings."""
    engine = AsrEngine.load(str(random_checkpoint), plan_device("float32"))
    clips = [noise(3.0, seed=1), noise(1.3, seed=2), noise(2.2, seed=3)]
    batched = engine.transcribe(clips, max_new_tokens=8)
    alone = [engine.transcribe([clip], max_new_tokens=8)[0] for clip in clips]
    assert [o.raw for o in batched] == [o.raw for o in alone]


def _queued_together(engine: AsrEngine, calls: list[dict]) -> tuple[list, int]:
    """Each call on a thread of its own while another job holds the model; what each got (or raised), and
    how many `generate` runs served them once the model was free."""
    runs = []
    generate = engine.model.generate

    def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        runs.append(1)
        return generate(*args, **kwargs)

    engine.model.generate = counted
    answers: list = [None] * len(calls)

    def call(index: int) -> None:
        try:
            answers[index] = engine.transcribe(**calls[index])
        except Exception as exc:  # what that job's caller would see
            answers[index] = exc

    threads = [threading.Thread(target=call, args=(index,)) for index in range(len(calls))]
    with engine._lock:  # another job's batch is being decoded
        for thread in threads:
            thread.start()
        while len(engine._waiting) < len(calls):
            time.sleep(0.01)
    for thread in threads:
        thread.join(60)
    engine.model.generate = generate
    return answers, len(runs)


def test_calls_of_several_jobs_that_wait_together_are_one_batch_with_each_ones_tokens(
    random_checkpoint: Path,
) -> None:
    """In float32 (see above). Three jobs' calls queue while the model is busy; the next holder decodes them
    in one `generate`, each row with its own budget, and each job gets exactly what it would alone."""
    engine = AsrEngine.load(str(random_checkpoint), plan_device("float32"))
    calls = [
        {"audios": [noise(3.0, seed=1)], "max_new_tokens": 8},
        {"audios": [noise(1.3, seed=2), noise(2.2, seed=3)], "max_new_tokens": 5},
        {"audios": [noise(2.0, seed=4)], "max_new_tokens": 12},
    ]
    alone = [[o.raw for o in engine.transcribe(**call)] for call in calls]
    answers, runs = _queued_together(engine, calls)
    assert runs == 1
    assert [[o.raw for o in answer] for answer in answers] == alone
    forced = [{**calls[0], "language": "English"}, calls[2]]
    assert _queued_together(engine, forced)[1] == 2, "a forced language is another prompt: not merged"


def test_a_job_cancelled_while_it_waits_ends_its_rows_only(random_checkpoint: Path) -> None:
    engine = AsrEngine.load(str(random_checkpoint), plan_device("float32"))
    gone = Cancel()
    gone.set()
    calls = [
        {"audios": [noise(2.0, seed=5)], "max_new_tokens": 10, "cancel": gone},
        {"audios": [noise(2.5, seed=6)], "max_new_tokens": 10, "cancel": Cancel()},
    ]
    answers, runs = _queued_together(engine, calls)
    assert runs == 1 and isinstance(answers[0], Aborted)
    assert [o.raw for o in answers[1]] == [
        o.raw for o in engine.transcribe([noise(2.5, seed=6)], max_new_tokens=10)
    ]


def _original_layout(src: Path, dst: Path) -> Path:
    """The same weights under the original (non-"-hf") key names."""
    shutil.copytree(src, dst)
    weights = load_file(dst / "model.safetensors")
    save_file({f"thinker.{key}": value for key, value in weights.items()}, dst / "model.safetensors")
    return dst


def test_a_checkpoint_whose_weights_do_not_load_is_refused(random_checkpoint: Path, tmp_path: Path) -> None:
    wrong = _original_layout(random_checkpoint, tmp_path / "Qwen3-ASR-0.6B")
    with pytest.raises(UserFacingError) as refused:
        AsrEngine.load(str(wrong))
    assert refused.value.code == "model_wrong_layout"


def test_missing_model_says_how_to_get_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(UserFacingError) as missing:
        resolve_model_dir(DEFAULT_MODEL_ID)
    assert missing.value.code == "model_missing"
    with pytest.raises(UserFacingError):
        resolve_model_dir(str(tmp_path / "no-such-folder"))
    assert download_command() == "hf download Qwen/Qwen3-ASR-0.6B-hf"


def test_model_is_found_in_the_hub_cache(random_checkpoint: Path, tmp_path: Path, monkeypatch) -> None:
    """The layout `hf download` leaves: models--org--name/snapshots/<rev>/ plus refs/main."""
    cache = tmp_path / "hub"
    repo = cache / "models--Qwen--Qwen3-ASR-0.6B-hf"
    shutil.copytree(random_checkpoint, repo / "snapshots" / "abc123")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc123")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    assert resolve_model_dir(DEFAULT_MODEL_ID) == repo / "snapshots" / "abc123"


def test_background_loader_reports_a_missing_model(tmp_path: Path) -> None:
    loader = BackgroundLoad(lambda: load_backend(Settings(model=str(tmp_path / "nothing-here"))))
    with pytest.raises(UserFacingError) as missing:
        loader.get(timeout=30)
    assert missing.value.code == "model_missing"
    assert loader.ready


def test_background_loader_turns_an_unexpected_failure_into_a_message() -> None:
    def broken() -> AsrEngine:
        raise RuntimeError("CUDA driver too old")

    loader = BackgroundLoad(broken)
    with pytest.raises(UserFacingError) as failed:
        loader.get(timeout=30)
    assert failed.value.code == "model_incompatible", "not 'still loading' forever"


def test_background_loads_run_one_at_a_time() -> None:
    """transformers switches torch's process-wide default dtype while it builds a model: the speaker model's
    warm-up, loading beside the speech model, made its input in bf16 and failed."""
    release, order = threading.Event(), []

    def first() -> int:
        order.append("first started")
        release.wait(10)
        order.append("first done")
        return 1

    def second() -> int:
        order.append("second started")
        return 2

    a = BackgroundLoad(first, name="first")
    while not order:
        time.sleep(0.01)
    b = BackgroundLoad(second, name="second")
    time.sleep(0.3)
    assert order == ["first started"] and not b.ready, "the second load waits for the first"
    release.set()
    assert a.get(timeout=10) == 1 and b.get(timeout=10) == 2
    assert order == ["first started", "first done", "second started"]


GIB = 1024**3


def test_batch_size_follows_device_precision_and_free_memory() -> None:
    gpu = plan_device(cuda_available=True)
    assert choose_batch_size(gpu, 24 * GIB) == 32  # a big GPU is filled, up to the cap
    assert choose_batch_size(gpu, 3 * GIB) == 6
    bf16_cpu = plan_device(cuda_available=False, native_bf16=True)
    assert choose_batch_size(bf16_cpu, 20 * GIB) == 16  # bf16 rows share a step's weight reads
    assert choose_batch_size(bf16_cpu, None) == 16
    laptop = plan_device(cuda_available=False, native_bf16=False)
    assert choose_batch_size(laptop, 20 * GIB) == 8  # float32 gains too little per row to wait for more
    assert choose_batch_size(laptop, 1 * GIB) == 2
    assert choose_batch_size(laptop, 100 * 1024**2) == 1  # never zero
    assert choose_batch_size(laptop, None) == 8
    assert choose_batch_size(plan_device(int8=True, cuda_available=False), 20 * GIB) == 8


def test_opt_in_int8_quantizes_the_decoder_only_and_still_answers(english_checkpoint: Path) -> None:
    engine = AsrEngine.load(str(english_checkpoint), plan_device(int8=True, cuda_available=False))
    quantized = torch.ao.nn.quantized.dynamic.Linear
    assert isinstance(engine.model.lm_head, quantized)
    assert isinstance(engine.model.model.language_model.layers[0].mlp.down_proj, quantized)
    assert not any(isinstance(m, quantized) for m in engine.model.model.audio_tower.modules())
    outputs = engine.transcribe([noise(3.0), noise(1.5, seed=1)])
    assert [(o.language, o.text) for o in outputs] == [("English", "hello world")] * 2


def _linear_kinds(module: torch.nn.Module) -> set[type]:
    return {type(m) for m in module.modules() if isinstance(m, torch.nn.Linear)}


@pytest.mark.skipif(not onednn_linear_pays(plan_device("float32", cuda_available=False)), reason="not x86-64")
def test_float32_on_a_cpu_decodes_on_onednn_with_the_default_gemms_logits(random_checkpoint: Path) -> None:
    engine = AsrEngine.load(str(random_checkpoint), plan_device("float32", cuda_available=False))
    model = engine.model
    assert _linear_kinds(model.model.language_model) == {OneDnnLinear}
    assert type(model.lm_head) is OneDnnLinear
    assert not any(weight.is_mkldnn for weight in model.parameters())  # the same weights, not a packed copy
    assert _linear_kinds(model.model.audio_tower) == {torch.nn.Linear}  # the encoder keeps its GEMM
    inputs = engine._inputs([noise(2.0), noise(1.2, seed=1)], None, None)
    with torch.inference_mode():
        fast = model(**inputs).logits
        for module in model.modules():
            if type(module) is OneDnnLinear:
                module.__class__ = torch.nn.Linear
        plain = model(**inputs).logits
    torch.testing.assert_close(fast, plain, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_on_a_cpu_the_encoder_runs_row_by_row_with_the_batched_output(random_checkpoint: Path, dtype) -> None:
    """Row by row the encoder's convolutions hold one chunk's activations, not the batch's (memory)."""
    engine = AsrEngine.load(str(random_checkpoint), plan_device(dtype, cuda_available=False))
    encoder = engine.model.model.audio_tower
    assert type(encoder) is RowByRowEncoder
    inputs = engine._inputs([noise(2.0), noise(0.7, seed=1), noise(3.1, seed=2)], None, None)
    features, mask = inputs["input_features"], inputs["input_features_mask"]
    with torch.inference_mode():
        by_row = encoder(features, mask).last_hidden_state
        encoder.__class__ = Qwen3ASREncoder
        batched = encoder(features, mask).last_hidden_state
    torch.testing.assert_close(by_row, batched)


def test_onednn_is_for_float32_on_a_cpu_only() -> None:
    assert not onednn_linear_pays(plan_device("bfloat16", cuda_available=False))
    assert not onednn_linear_pays(plan_device(int8=True, cuda_available=False))
    assert not onednn_linear_pays(plan_device("float32", cuda_available=True))


def test_int8_is_never_used_on_cuda() -> None:
    assert plan_device(int8=True, cuda_available=True).int8 is False
    assert plan_device(int8=True, cuda_available=False).int8 is True


# --- the prompt: the released chat template, token for token ---------------------------------------------


@pytest.mark.parametrize(
    ("context", "language"),
    [(None, None), ("张经理, OKR", None), (None, "Chinese"), ("张经理, OKR", "Chinese")],
)
def test_prompt_ids_are_the_released_layout(english_checkpoint: Path, context, language) -> None:
    """What the reference (qwen-asr 0.0.6) sends: a system turn always (the context, or empty), the audio in
    the user turn, then the assistant turn, prefilled with the language tag when one is forced."""
    engine = AsrEngine.load(str(english_checkpoint), plan_device("float32"))
    inputs = engine._inputs([noise(3.0)], language, context)
    tokenizer = engine.processor.tokenizer
    pads = int((inputs["input_ids"][0] == tokenizer.convert_tokens_to_ids("<|audio_pad|>")).sum())
    text = (
        f"<|im_start|>system\n{context or ''}<|im_end|>\n"
        f"<|im_start|>user\n<|audio_start|>{'<|audio_pad|>' * pads}<|audio_end|><|im_end|>\n"
        "<|im_start|>assistant\n" + (f"language {language}<asr_text>" if language else "")
    )
    assert pads == 39  # 3 s of audio: 13 encoder positions per 100 mel frames (1 s)
    assert inputs["input_ids"][0].tolist() == tokenizer.encode(text, add_special_tokens=False)


# --- FP16 overflow: the batch is redone in a wider precision ---------------------------------------------


def _overflow_in_fp16(engine: AsrEngine) -> None:
    """Make the LM head's logits infinite whenever the model runs in fp16, as an fp16 overflow would."""

    def overflow(module, args, output):
        return (
            output.masked_fill(torch.ones_like(output, dtype=torch.bool), float("inf"))
            if (output.dtype == torch.float16)
            else output
        )

    engine.model.lm_head.register_forward_hook(overflow, prepend=True)


def test_an_fp16_overflow_is_redone_in_bf16_and_stays_there(english_checkpoint: Path, caplog) -> None:
    engine = AsrEngine.load(str(english_checkpoint), plan_device("float16", cuda_available=False))
    _overflow_in_fp16(engine)
    with caplog.at_level(logging.WARNING, logger="asr.engines.transformers_engine"):
        probe = engine.probe_language(noise(3.0))
        outputs = engine.transcribe([noise(3.0), noise(2.0, seed=1)], resume=probe)
    assert probe.language == "English"
    assert [(o.language, o.text) for o in outputs] == [("English", "hello world")] * 2
    assert engine.plan.dtype == engine.model.dtype == torch.bfloat16
    assert [r.getMessage() for r in caplog.records] == [
        "Logits not finite: precision raised and the batch redone"
    ]


def test_an_fp16_overflow_is_redone_in_bf16_where_the_device_has_it() -> None:
    assert fallback_dtype("cpu") == torch.bfloat16


def _forward_passes(engine: AsrEngine) -> list[int]:
    """Counts the decoder's forward passes from now on (one per prefill, one per generated step)."""
    passes = [0]

    def count(module: torch.nn.Module, args: object, output: object) -> None:
        passes[0] += 1

    engine.model.lm_head.register_forward_hook(count)
    return passes


def test_drafts_checked_in_one_pass_give_exactly_the_tokens_of_a_plain_greedy_decode(
    random_checkpoint: Path,
) -> None:
    """Unforced greedy decoding of random weights, where any shortcut shows as a different token: drafts that
    are wrong from the start, right for a while then wrong, right and whole, or longer than the budget, alone
    and as rows of one batch, give the plain decode's tokens, words and probabilities."""
    engine = AsrEngine.load(str(random_checkpoint), plan_device("float32"))
    clips = [noise(3.0, seed=1), noise(1.3, seed=2), noise(2.2, seed=3)]
    plain = engine.transcribe(clips, max_new_tokens=14)
    assert all(len(o.token_ids) == 14 for o in plain), "random weights never stop by themselves"
    rng = np.random.default_rng(0)
    vocab = len(engine.processor.tokenizer)
    for trial in range(4):
        drafts = []
        for output in plain:
            right = int(rng.integers(0, len(output.token_ids) + 1)) if trial else 0
            wrong = rng.integers(3, vocab, size=int(rng.integers(1, 6))).tolist()
            drafts.append([*output.token_ids[:right], *wrong])
        for rows in ([0], [2], [0, 1, 2]):
            said = engine.transcribe(
                [clips[r] for r in rows], max_new_tokens=14, drafts=[drafts[r] for r in rows]
            )
            for row, output in zip(rows, said, strict=True):
                assert output.token_ids == plain[row].token_ids, (trial, rows, row)
                assert output.raw == plain[row].raw and output.complete
                assert [p.text for p in output.pieces] == [p.text for p in plain[row].pieces]
                probs = [p.probability for p in output.pieces]
                assert probs == pytest.approx([p.probability for p in plain[row].pieces], abs=1e-3)
    longer = [[*o.token_ids, 5, 6, 7] for o in plain]
    assert [o.token_ids for o in engine.transcribe(clips, max_new_tokens=14, drafts=longer)] == [
        o.token_ids for o in plain
    ]


def test_a_draft_the_model_agrees_with_costs_one_forward_pass(english_checkpoint: Path) -> None:
    """`hello world` and its end: a draft of the whole answer is checked in the prefill and nothing is left
    to generate; a plain decode takes a pass per token."""
    engine = AsrEngine.load(str(english_checkpoint), plan_device("float32"))
    clip = noise(2.0)
    passes = _forward_passes(engine)
    [plain] = engine.transcribe([clip])
    plain_passes, passes[0] = passes[0], 0
    [drafted] = engine.transcribe([clip], drafts=[plain.token_ids])
    assert (drafted.text, drafted.token_ids, drafted.language) == (plain.text, plain.token_ids, "English")
    assert plain_passes == len(plain.token_ids) and passes[0] == 1
    passes[0] = 0
    [half] = engine.transcribe([clip], drafts=[plain.token_ids[:4]])
    assert half.token_ids == plain.token_ids and passes[0] == 1 + len(plain.token_ids) - 5


def test_a_decode_that_gives_way_ends_at_once_with_what_it_has(random_checkpoint: Path) -> None:
    """Asked after each step; with a draft also once the audio is encoded and once the draft is checked."""
    engine = AsrEngine.load(str(random_checkpoint), plan_device("float32"))
    clip = noise(2.0)
    [plain] = engine.transcribe([clip], max_new_tokens=12)
    asked = [0]
    yes_at = [4]

    def give_way() -> bool:
        asked[0] += 1
        return asked[0] >= yes_at[0]

    [cut] = engine.transcribe([clip], max_new_tokens=12, give_way=give_way)
    assert not cut.complete and cut.token_ids == plain.token_ids[:4] and plain.complete
    asked[0] = 0
    [cut] = engine.transcribe([clip], max_new_tokens=12, drafts=[plain.token_ids[:6]], give_way=give_way)
    assert not cut.complete and cut.token_ids == plain.token_ids[:9], "7 from the draft's pass, 2 steps more"
    asked[0], yes_at[0] = 0, 1
    [cut] = engine.transcribe([clip], max_new_tokens=12, drafts=[plain.token_ids[:6]], give_way=give_way)
    assert not cut.complete and cut.token_ids == () and asked[0] == 1, "it gave way once the audio was in"


def test_a_growing_utterance_reuses_its_complete_windows_and_decodes_as_if_from_scratch(
    random_checkpoint: Path,
) -> None:
    """A live utterance decoded again over more audio each time: complete 8 s encoder windows and the
    decoder's cache up to them are reused (the memory says how much), yet every answer is token for token a
    plain decode of that audio, also after a louder sound changes every frame's log-mel floor."""
    engine = AsrEngine.load(str(random_checkpoint), plan_device("float32"))
    plain = AsrEngine.load(str(random_checkpoint), plan_device("float32"))
    speech = noise(20.0, seed=4)
    speech[:16000] = 0.0  # silent frames sit on the log-mel floor: the clip's maximum - 8
    speech[int(16000 * 17.5) :] *= 30  # louder from 17.5 s: the maximum moves, the silent frames too
    last: tuple[int, ...] = ()
    reused_before = 0
    for seconds in (3.0, 8.5, 9.3, 12.0, 16.9, 17.8):
        audio = speech[: int(16000 * seconds)]
        [live] = engine.transcribe([audio], max_new_tokens=10, drafts=[last])
        [alone] = plain.transcribe([audio], max_new_tokens=10)
        assert live.token_ids == alone.token_ids, seconds
        reuse = engine._memory.reuse
        if seconds in (9.3, 12.0, 16.9):
            assert reuse.windows_reused - reused_before == 1, "the first window came from the last decode"
        if seconds == 17.8:
            assert reuse.windows_reused == reused_before, (
                "the louder sound changed the first window's features"
            )
        reused_before = reuse.windows_reused
        last = live.token_ids
    assert reuse.tokens_reused > 0 and reuse.chunks_reused > 0 and reuse.calls == 6
