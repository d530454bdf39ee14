"""The engines that run Qwen3-ASR, behind one protocol, and the one reader of the model's answer."""
