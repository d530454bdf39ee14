"""Hand-run CPU benchmark of Qwen3-ASR-0.6B: seed recipe vs bare model vs our pipeline, and a decode profile.

Never run in CI: it needs minutes and several GB of RAM. See bench/README.md.
"""
