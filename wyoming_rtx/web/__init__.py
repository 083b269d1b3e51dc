"""Status page, live updates, browser satellite, /metrics and /healthz (issue 9).

`WebServer(app, settings.http_uri, token=settings.http_token, data_dir=settings.data_dir)` is
started by `App.start()` beside the Wyoming listener when `--http-uri` is given, and stopped
by `App.stop()`. Bound beyond loopback without a token or trusted proxy it keeps a generated
token in `data_dir` (`token.py`); `TokenStoreError` (an OSError) when it cannot.
"""

from .app import INGRESS_PROXY, WebServer, parse_http_uri
from .token import TokenStoreError

__all__ = ["INGRESS_PROXY", "TokenStoreError", "WebServer", "parse_http_uri"]
