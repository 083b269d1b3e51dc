"""When has the speaker finished? The one end-of-turn module for satellite, browser and server.

DECODE_PAUSE_SECONDS is the pause after which the server starts decoding what it has heard
(the speculative decode): short on purpose, because a decode that speech then overtakes is
simply dropped, while one that is ready when the turn ends saves its whole duration.
"""

from __future__ import annotations

DECODE_PAUSE_SECONDS = 0.2
"""Silence after speech that starts the speculative decode during the trailing silence."""
