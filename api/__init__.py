"""An OpenAI-compatible transcription API in front of the same pipeline as the page and the CLI.

`api.routes` mounts `/v1` on the page's own server and on `python -m asr serve` (`api.serve`); `api.form`
reads a request as the `openai` SDK sends it, `api.service` runs it as a job on the process's one engine,
`api.formats` answers in each `response_format`, `api.errors` in OpenAI's error shape.
"""
