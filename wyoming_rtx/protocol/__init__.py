"""The Wyoming wire: bounded framing, one connection's read loop, the listener, the per-connection
dispatcher, the `info` answer and the zeroconf announcement."""
