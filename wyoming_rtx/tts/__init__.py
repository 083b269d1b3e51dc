"""Text-to-speech: piper voices, the engine, sentence splitting, the speech cache, and the
text-to-speech exchange as Home Assistant drives it."""
