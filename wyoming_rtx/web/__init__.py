"""Status page, live updates, browser satellite, /metrics and /healthz (issue 9).

`WebServer(app, settings.http_uri, token=settings.http_token)` is started by `App.start()`
beside the Wyoming listener when `--http-uri` is given, and stopped by `App.stop()`.
"""

from .app import INGRESS_PROXY, WebServer, parse_http_uri

__all__ = ["INGRESS_PROXY", "WebServer", "parse_http_uri"]
