"""Build Qwen3-ASR checkpoints offline, of the real architecture, for tests and benchmarks (both import it).

No machine here reaches the Hugging Face hub, so tests make their own checkpoint: a BPE tokenizer trained with
`tokenizers`, the native `Qwen3ASRConfig` / `Qwen3ASRForConditionalGeneration` / `Qwen3ASRProcessor`, saved
as safetensors, and loaded back by the app through the very `from_pretrained` path users get.

Random weights never say anything meaningful, so a checkpoint can also be wired to *say* one fixed line
through the real `generate` path (`say=`): every decoder layer's `o_proj` and `down_proj` are zeroed so the
last hidden state depends only on the current token, each token of the line gets its own embedding
direction, and each LM-head row of the line points at its predecessor's direction. Whatever the audio, the
model then answers the line and stops at `<|im_end|>`. That lets language-ID, parsing, UI and log tests check
real plumbing against a known answer without faking a transcript.

`build_aligner_checkpoint` makes the forced aligner (word timestamps) the same way, with random weights.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (
    Qwen2TokenizerFast,
    Qwen3ASRConfig,
    Qwen3ASRFeatureExtractor,
    Qwen3ASRForConditionalGeneration,
    Qwen3ASRForTokenClassification,
    Qwen3ASRProcessor,
)

SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|audio_start|>",
    "<|audio_end|>",
    "<|audio_pad|>",
    "<timestamp>",
]
ASR_TEXT = "<asr_text>"  # not special: the parser must see it in decoded text

# The released templates, character for character: what transformers' `convert_qwen3_asr_to_hf.py` writes
# into the hub's -hf checkpoints (`ASR_CHAT_TEMPLATE`, `FORCED_ALIGNER_CHAT_TEMPLATE`). The system turn is
# always there, empty without context; the assistant turn is rendered for a forced language
# (`continue_final_message`). Tests must run the prompt users get, so no look-alike is written here.
CHAT_TEMPLATE = (
    "{%- set ns = namespace(system_text='') -%}"
    "{%- for m in messages -%}"
    "{%- if m.role == 'system' -%}"
    "{%- if m.content is string -%}"
    "{%- set ns.system_text = ns.system_text + m.content -%}"
    "{%- else -%}"
    "{%- for c in m.content -%}"
    "{%- if c.type == 'text' and (c.text is defined) -%}"
    "{%- set ns.system_text = ns.system_text + c.text -%}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- endif -%}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- set ns2 = namespace(audio_tokens='') -%}"
    "{%- for m in messages -%}"
    "{%- if m.content is not string -%}"
    "{%- for c in m.content -%}"
    "{%- if c.type == 'audio' or ('audio' in c) or ('audio_url' in c) -%}"
    "{%- set ns2.audio_tokens = ns2.audio_tokens + '<|audio_start|><|audio_pad|><|audio_end|>' -%}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{{- '<|im_start|>system\n' + ns.system_text + '<|im_end|>\n' -}}"
    "{{- '<|im_start|>user\n' + ns2.audio_tokens + '<|im_end|>\n' -}}"
    "{%- for m in messages -%}"
    "{%- if m.role == 'assistant' -%}"
    "{%- set ns3 = namespace(assistant_text='') -%}"
    "{%- if m.content is string -%}"
    "{%- set ns3.assistant_text = m.content -%}"
    "{%- else -%}"
    "{%- for c in m.content -%}"
    "{%- if c.type == 'text' and (c.text is defined) -%}"
    "{%- set ns3.assistant_text = ns3.assistant_text + c.text -%}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- endif -%}"
    "{{- '<|im_start|>assistant\n' -}}"
    "{% generation %}"
    "{{- ns3.assistant_text + '<|im_end|>\n' -}}"
    "{% endgeneration %}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}"
    "{{- '<|im_start|>assistant\n' -}}"
    "{%- endif -%}"
)

ALIGNER_CHAT_TEMPLATE = (
    "{%- set ns = namespace(audio_tokens='', words=[]) -%}"
    "{%- for m in messages -%}"
    "{%- if m.content is not string -%}"
    "{%- for c in m.content -%}"
    "{%- if c.type == 'audio' or ('audio' in c) or ('audio_url' in c) -%}"
    "{%- set ns.audio_tokens = ns.audio_tokens + '<|audio_start|><|audio_pad|><|audio_end|>' -%}"
    "{%- endif -%}"
    "{%- if c.type == 'text' and (c.text is defined) -%}"
    "{%- set ns.words = ns.words + [c.text] -%}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{{- ns.audio_tokens + ns.words | join('<timestamp><timestamp>') + '<timestamp><timestamp>' -}}"
)
#: Timestamp classes of the tiny aligner: 32 bins of 80 ms reach 2.48 s (the released one has 5000).
TINY_TIMESTAMP_BINS = 32
#: The probability a `doubt=` word of a fixed line is said with (below the default low-confidence mark).
DOUBTED_PROBABILITY = 0.3

_CORPUS = [
    "language English<asr_text>hello world",
    "language Chinese<asr_text>你好世界，这个report我明天上午10点前email给你",
    "language Japanese<asr_text>こんにちは",
    "language None<asr_text>",
    "Please send the invoice to finance@company.com, 并抄送张经理",
    "We will discuss the roadmap next Monday, 下周一起对齐OKR",
    "the quick brown fox jumps over the lazy dog 0123456789",
    "system user assistant",
]


@dataclass(frozen=True)
class TinyShape:
    """Sizes of a checkpoint; the defaults are tiny, `REAL_0_6B` is the released model's."""

    text_hidden: int = 64
    text_layers: int = 2
    text_heads: int = 4
    text_kv_heads: int = 2
    text_head_dim: int = 16
    text_ffn: int = 128
    audio_d_model: int = 32
    audio_layers: int = 2
    audio_heads: int = 2
    audio_ffn: int = 64
    audio_downsample: int = 16
    vocab_size: int | None = None  # None: the trained tokenizer's size
    tie_word_embeddings: bool = False
    extra: dict = field(default_factory=dict)


REAL_0_6B = TinyShape(
    text_hidden=1024,
    text_layers=28,
    text_heads=16,
    text_kv_heads=8,
    text_head_dim=128,
    text_ffn=3072,
    audio_d_model=896,
    audio_layers=18,
    audio_heads=14,
    audio_ffn=3584,
    audio_downsample=480,
    vocab_size=151936,
    tie_word_embeddings=True,
)


def build_tokenizer(words: list[str] = ()) -> Qwen2TokenizerFast:
    """A byte-level BPE tokenizer trained here, with Qwen's special tokens; `words` become single tokens."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=600,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_CORPUS * 50 + [" ".join(words)] * 200, trainer=trainer)
    fast = Qwen2TokenizerFast(
        tokenizer_object=tok,
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        extra_special_tokens={
            "audio_token": "<|audio_pad|>",
            "audio_bos_token": "<|audio_start|>",
            "audio_eos_token": "<|audio_end|>",
        },
    )
    fast.add_tokens([ASR_TEXT])
    return fast


def _config(tokenizer: Qwen2TokenizerFast, shape: TinyShape) -> Qwen3ASRConfig:
    ids = tokenizer.convert_tokens_to_ids
    return Qwen3ASRConfig(
        audio_config={
            "d_model": shape.audio_d_model,
            "encoder_layers": shape.audio_layers,
            "encoder_attention_heads": shape.audio_heads,
            "encoder_ffn_dim": shape.audio_ffn,
            "downsample_hidden_size": shape.audio_downsample,
            "output_dim": shape.text_hidden,
            "num_mel_bins": 128,
        },
        text_config={
            "vocab_size": shape.vocab_size or len(tokenizer),
            "hidden_size": shape.text_hidden,
            "intermediate_size": shape.text_ffn,
            "num_hidden_layers": shape.text_layers,
            "num_attention_heads": shape.text_heads,
            "num_key_value_heads": shape.text_kv_heads,
            "head_dim": shape.text_head_dim,
            "max_position_embeddings": 65536,
            "tie_word_embeddings": shape.tie_word_embeddings,
            "pad_token_id": ids("<|endoftext|>"),
            "eos_token_id": ids("<|im_end|>"),
        },
        audio_token_id=ids("<|audio_pad|>"),
        timestamp_token_id=ids("<timestamp>"),
        pad_token_id=ids("<|endoftext|>"),
        eos_token_id=[ids("<|endoftext|>"), ids("<|im_end|>")],
        tie_word_embeddings=shape.tie_word_embeddings,
        **shape.extra,
    )


def _line_tokens(tokenizer: Qwen2TokenizerFast, line: str) -> list[int]:
    """The ids the model must emit, starting from the prompt's last token ("\\n" after "assistant")."""
    newline = tokenizer.encode("\n", add_special_tokens=False)
    said = tokenizer.encode(line, add_special_tokens=False)
    return newline + said + [tokenizer.convert_tokens_to_ids("<|im_end|>")]


@torch.no_grad()
def _make_it_say(model: Qwen3ASRForConditionalGeneration, chain: list[int], doubted: set[int]) -> None:
    if len(set(chain)) != len(chain):
        raise ValueError("every token of the line must be distinct")
    lm = model.model.language_model
    for layer in lm.layers:
        layer.self_attn.o_proj.weight.zero_()
        layer.mlp.down_proj.weight.zero_()
    emb = lm.embed_tokens.weight
    hidden = emb.shape[1]
    if len(chain) > hidden:
        raise ValueError("the line has more tokens than the hidden size has directions")
    emb[chain] = 0.0
    for slot, token in enumerate(chain):
        emb[token, slot] = 1.0
    head = model.lm_head.weight
    # the final RMSNorm turns a one-hot direction into sqrt(hidden) along it: logit = weight * sqrt(hidden)
    doubtful = math.log(head.shape[0] * DOUBTED_PROBABILITY / (1 - DOUBTED_PROBABILITY)) / math.sqrt(hidden)
    for slot, token in enumerate(chain[1:]):
        head[token].zero_()
        # the predecessor's direction; random rows stay far below (near 0), so a doubted token still wins
        # greedy search, with about DOUBTED_PROBABILITY against the ~vocabulary-size mass of the others
        head[token, slot] = doubtful if token in doubted else 30.0


def build_checkpoint(
    path: Path,
    *,
    shape: TinyShape = TinyShape(),
    say: str | None = None,
    doubt: str | None = None,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
) -> Path:
    """Write a loadable Qwen3-ASR checkpoint (safetensors + processor files) to `path` and return it.

    `say`, e.g. "language English<asr_text>hello world", wires the model to answer exactly that line;
    `doubt`, one word of it, is still said but with only about DOUBTED_PROBABILITY (low-confidence marks).
    """
    torch.manual_seed(seed)
    words = []
    if say:
        words = [w for w in say.replace(ASR_TEXT, " ").split() if w]
    tokenizer = build_tokenizer(words)
    config = _config(tokenizer, shape)
    with torch.device("cpu"):
        model = Qwen3ASRForConditionalGeneration(config).to(dtype).eval()
    if say is not None:
        if shape.tie_word_embeddings:
            raise ValueError("a checkpoint that says a fixed line needs an untied LM head")
        chain = _line_tokens(tokenizer, say)
        doubted = {t for t in chain if doubt and tokenizer.decode([t]).strip() == doubt}
        if doubt and not doubted:
            raise ValueError("the doubted word must be one token of the line")
        _make_it_say(model, chain, doubted)
    _save(path, model, tokenizer, CHAT_TEMPLATE)
    (path / "tiny_checkpoint.json").write_text(json.dumps({"say": say, "doubt": doubt, "seed": seed}))
    return path


def build_aligner_checkpoint(
    path: Path,
    *,
    shape: TinyShape = TinyShape(),
    bins: int = TINY_TIMESTAMP_BINS,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
) -> Path:
    """Write a loadable Qwen3-ForcedAligner checkpoint (`Qwen3ASRForTokenClassification`) to `path`.

    Same architecture and files as the converted hub aligner: a `bins`-class timestamp head instead of the
    LM head, and a chat template that puts two `<timestamp>` slots after every word. Random weights: the
    times it predicts are plumbing only, never a measure of accuracy.
    """
    torch.manual_seed(seed)
    tokenizer = build_tokenizer()
    config = _config(tokenizer, shape)
    config.num_labels = bins
    with torch.device("cpu"):
        model = Qwen3ASRForTokenClassification(config).to(dtype).eval()
    _save(path, model, tokenizer, ALIGNER_CHAT_TEMPLATE)
    return path


def _save(path: Path, model, tokenizer: Qwen2TokenizerFast, chat_template: str) -> None:
    """Weights as safetensors plus the processor files, as `from_pretrained` expects them."""
    processor = Qwen3ASRProcessor(
        feature_extractor=Qwen3ASRFeatureExtractor(), tokenizer=tokenizer, chat_template=chat_template
    )
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path, safe_serialization=True)
    processor.save_pretrained(path)
