"""Benchmarks of wyoming-rtx side by side with wyoming-faster-whisper and wyoming-piper."""
