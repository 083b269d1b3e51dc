"""Home Assistant's turn, as its Assist pipeline sends it, timed from our own status page.

    .venv/bin/python bench/ha_turn.py [--rounds 3] [--server-arg=--tts-cache-mb=32]

Home Assistant sends a turn as three requests on three connections: the speech (16 kHz, 10 ms
chunks at real-time pace, `audio-stop` 0.7 s after the last word, as its VAD waits), then the
transcript as a conversation request, then the answer's text as a synthesis request. This
sends exactly that for every local command of the bench corpus plus one real recording, then
reads each turn back from `/api/status`, where the server joined the three requests into one
turn, and prints the server's own stage times: asr (`audio-stop` → transcript), handle
(request → answer), tts (request → first audio), and the whole turn from `audio-stop` to the
first audio sent. The clock starts at `audio-stop`, so Home Assistant's 0.7 s wait and its own
hops between requests (here: this client's) are outside it.

The speech cache is off unless a `--server-arg` turns it on, so every answer is rendered; one
untimed turn warms the server first.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
import urllib.request
import wave
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from wyoming.asr import Transcript  # noqa: E402
from wyoming.client import AsyncTcpClient  # noqa: E402
from wyoming_helpers import (  # noqa: E402
    free_port,
    read_until,
    start_server,
    synthesize,
    transcribe,
)

from bench.pipeline_turn import LOCAL_UTTERANCES  # noqa: E402


def read_pcm(path: Path) -> bytes:
    with wave.open(str(path), "rb") as wav:
        assert (wav.getframerate(), wav.getsampwidth(), wav.getnchannels()) == (16000, 2, 1)
        return wav.readframes(wav.getnframes())


async def converse(port: int, text: str, conversation_id: str) -> str:
    """HA's conversation request; returns the answer text."""
    async with AsyncTcpClient("127.0.0.1", port) as client:
        context = {"conversation_id": conversation_id}
        await client.write_event(Transcript(text=text, language="en", context=context).event())
        events = await read_until(client, "handled", "not-handled")
    return str(events[-1].data.get("text", ""))


async def ha_turn(port: int, pcm: bytes, conversation_id: str) -> None:
    heard = await transcribe(port, pcm, 16000, 2, 1, realtime=True, trailing_silence=0.7)
    answer = await converse(port, heard.text, conversation_id)
    await synthesize(port, answer)


def status(http_port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/api/status", timeout=5) as r:
        return json.load(r)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="passes over the utterances")
    parser.add_argument("--server-arg", action="append", default=[], help="extra server flag")
    args = parser.parse_args()
    http_port = free_port()
    server_args = ["--http-uri", f"http://127.0.0.1:{http_port}", "--tts-cache-mb", "0"]
    server = await start_server(*server_args, *args.server_arg)
    try:
        utterances = [(read_pcm(path), text) for path, text in LOCAL_UTTERANCES]
        await ha_turn(server.port, utterances[0][0], "warm-up")
        turns: list[dict] = []
        for n in range(args.rounds):
            for i, (pcm, _text) in enumerate(utterances):
                cid = f"bench-{n}-{i}"
                await ha_turn(server.port, pcm, cid)
                deadline = time.monotonic() + 5
                while time.monotonic() < deadline:
                    found = [t for t in status(http_port)["turns"] if t["conversation_id"] == cid]
                    if found and found[0]["outcome"] != "running":
                        turns.append(found[0])
                        break
                    await asyncio.sleep(0.05)
    finally:
        await server.stop()

    def column(key: str) -> list[float]:
        if key == "turn":
            return [t["ms_after_end_of_speech"]["first_audio"] for t in turns]
        return [t["stage_ms"][key] for t in turns]

    print(f"Home Assistant turns, {len(turns)} joined of {args.rounds * len(utterances)} sent;")
    print("outcomes:", sorted({(t["outcome"], t["source"]) for t in turns}))
    print("\n| ms | asr | handle | tts first audio | audio-stop -> first audio sent |")
    print("|---|---:|---:|---:|---:|")
    for name, stat in (("median", statistics.median), ("max", max)):
        cells = [stat(column(k)) for k in ("asr", "handle", "tts", "turn")]
        print(f"| {name} | " + " | ".join(f"{c:.0f}" for c in cells) + " |")
    print(
        "\n`audio-stop -> first audio sent` includes this client's hops between the requests,"
        " as Home Assistant's own would be."
    )


if __name__ == "__main__":
    asyncio.run(main())
