"""Audio in: one locked-down decode, where people speak, and the chunks transcription consumes."""
