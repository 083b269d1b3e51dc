"""Speech-to-text: model resolution, the faster-whisper engine and its streams, and the
speech-to-text exchange as Home Assistant drives it."""
