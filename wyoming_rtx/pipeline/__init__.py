"""Turns: speech in, answer out, whichever way they arrive (a direct satellite, the browser, or
Home Assistant's separate requests), with one trace per turn."""
