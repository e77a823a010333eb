"""An ``mlflow server`` over HTTP(S): hydraflow's own requests to its REST API, with a bounded retry policy.

MLflow's client retries a failed request 7 times with exponential backoff
(``MLFLOW_HTTP_REQUEST_MAX_RETRIES``, ``MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR``): a server that is down is
reported after about four minutes (248 s measured here). hydraflow's own requests (listing and reading runs
for analysis and ``hydraflow runs``, fetching their artifacts, the start-up check of ``@hydraflow.main``
jobs) go through MLflow's transport (``mlflow.utils.rest_utils.http_request``: MLflow's authentication,
``MLFLOW_TRACKING_USERNAME``/``PASSWORD``, ``MLFLOW_TRACKING_TOKEN``, the TLS options, auth plugins) with
MLflow's retries off and this policy instead:

- connection refused or unknown host: tried three times within about a second (a server that is restarting),
  then :class:`~hydraflow.store.errors.StoreUnavailableError`;
- HTTP 401 or 403: :class:`~hydraflow.store.errors.StoreAccessError` at once;
- HTTP 408, 429, 500, 502, 503, 504, a reset connection or a timeout: retried with jittered exponential
  backoff (0.25 s, doubling, at most 4 s; a ``Retry-After`` header is honoured) for at most
  ``HYDRAFLOW_SERVER_RETRY_SECONDS`` counted from the first failure not followed by a success. That clock is
  shared by every thread using one :class:`ServerClient`: 2,000 downloads from a server that went away give up
  together, once;
- any other error answer: :class:`~hydraflow.store.errors.StoreRequestError` (status and MLflow error code).

Every error is one line naming the server's URI (without credentials). MLflow is imported on first request.
"""

from __future__ import annotations

import http.client
import json
import logging
import random
import socket
import threading
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit, urlunsplit

from hydraflow import settings
from hydraflow.store.errors import (
    StoreAccessError,
    StoreRequestError,
    StoreUnavailableError,
    causes,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["ServerClient", "check_server", "display_uri"]

log = logging.getLogger("hydraflow")

API = "/api/2.0/mlflow"
ARTIFACTS_API = "/api/2.0/mlflow-artifacts/artifacts"
_TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_REFUSED_TRIES = 3
_FIRST_DELAY, _MAX_DELAY = 0.25, 4.0
_CONNECT_TIMEOUT = 5.0
_AUTH_HINT = {
    401: "set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, or MLFLOW_TRACKING_TOKEN",
    403: "the credentials in use may not read this server",
}


def display_uri(uri: str) -> str:
    """``uri`` without the user name and password it may carry.

    >>> display_uri("https://alice:secret@mlflow.example.org:5000/prefix")
    'https://mlflow.example.org:5000/prefix'
    >>> display_uri("http://127.0.0.1:5000")
    'http://127.0.0.1:5000'
    """
    parts = urlsplit(uri)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment)).rstrip("/")


def _failure(exc: BaseException) -> tuple[str, str]:  # noqa: PLR0911 - one return per kind
    """What went wrong in a failed request: ``(kind, text)``; kind is refused, unknown-host, transient, other.

    Decided by the exception types in the chain MLflow's transport raises (``MlflowException`` raised while
    handling ``requests``' error, which urllib3 raised from the socket's).
    """
    import requests

    chain = list(causes(exc))
    for c in chain:
        if isinstance(c, requests.exceptions.SSLError):
            return "other", f"TLS error ({str(c).splitlines()[0][:200]})"
        if isinstance(c, ConnectionRefusedError):
            return "refused", "connection refused (is the server running, on this host and port?)"
        if isinstance(c, socket.gaierror):
            return "unknown-host", f"unknown host ({c.strerror or c})"
    for c in chain:
        if isinstance(c, (requests.exceptions.Timeout, TimeoutError)):
            return "transient", "no answer in time (HYDRAFLOW_SERVER_TIMEOUT)"
        if isinstance(c, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError)):
            return "transient", "connection reset"
        if isinstance(c, http.client.RemoteDisconnected):
            return "transient", "connection closed without an answer"
        if isinstance(c, requests.exceptions.ConnectionError):
            return "transient", "connection error"
    deepest = chain[-1]
    return "other", f"{type(deepest).__name__}: {str(deepest).splitlines()[0] if str(deepest) else ''}"


def _error_of(response: Any) -> tuple[str | None, str]:
    """MLflow's ``error_code`` and message of an error answer (None and a short text when it is not JSON)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and "error_code" in body:
        lines = str(body.get("message") or "").splitlines()
        return str(body["error_code"]), lines[0] if lines else ""
    return None, (response.reason or "").strip()


class ServerClient:
    """Requests to one MLflow server (or artifact server): JSON calls and file downloads, thread-safe.

    Args:
        uri: The server's base URI (``http(s)://host:port[/path prefix]``), as MLflow's tracking URI.
    """

    def __init__(self, uri: str) -> None:
        """A client of the server at ``uri``; nothing is sent yet."""
        self.uri = uri.rstrip("/")
        self.shown = display_uri(uri)
        self._creds: Any = None
        self._lock = threading.Lock()
        self._trouble_since: float | None = None  # first transient failure not followed by a success

    # -------------------------------------------------------------------------------- transport

    def _host_creds(self) -> Any:
        if self._creds is None:
            from mlflow.utils.credentials import get_default_host_creds

            self._creds = get_default_host_creds(self.uri)  # type: ignore[no-untyped-call]
        return self._creds

    def _send(self, method: str, endpoint: str, kwargs: dict[str, Any]) -> Any:
        from mlflow.utils.rest_utils import http_request

        timeout = settings.server_timeout()
        return http_request(  # type: ignore[no-untyped-call]
            self._host_creds(),
            endpoint,
            method,
            max_retries=0,
            backoff_factor=0,
            backoff_jitter=0,
            retry_codes=frozenset(),
            raise_on_status=False,
            timeout=(min(_CONNECT_TIMEOUT, timeout), timeout),
            **kwargs,
        )

    def _give_up_at(self) -> float:
        with self._lock:
            if self._trouble_since is None:
                self._trouble_since = time.monotonic()
            return self._trouble_since + settings.server_retry_seconds()

    def _ok(self) -> None:
        if self._trouble_since is not None:
            with self._lock:
                self._trouble_since = None

    def request(self, method: str, endpoint: str, *, what: str, **kwargs: Any) -> Any:
        """Send one request (``endpoint`` below the base URI); returns the ``requests`` response of a success.

        Args:
            method: ``GET``, ``POST``...
            endpoint: The path below the base URI, e.g. ``/api/2.0/mlflow/runs/search``.
            what: What the request is for, in the error message ("search runs").
            kwargs: ``json=``, ``params=``, ``stream=`` for ``requests``.

        Raises:
            StoreUnavailableError: The server cannot be reached, or kept failing for the retry time.
            StoreAccessError: HTTP 401 or 403.
            StoreRequestError: Any other error answer.
        """
        delay = _FIRST_DELAY
        refused = 0
        while True:
            try:
                response = self._send(method, endpoint, kwargs)
            except Exception as exc:  # noqa: BLE001 - MLflow's transport wraps every network error: sorted by type
                kind, text = _failure(exc)
                if kind in {"refused", "unknown-host"}:
                    refused += 1
                    if refused < _REFUSED_TRIES:
                        time.sleep(delay * refused)
                        continue
                    msg = f"MLflow tracking server {self.shown} is unreachable: {text}"
                    raise StoreUnavailableError(msg, self.shown) from None
                if kind == "other" or time.monotonic() >= self._give_up_at():
                    msg = f"MLflow tracking server {self.shown} is unreachable ({what}): {text}"
                    if kind == "transient":
                        msg += f", still after {settings.server_retry_seconds():g} s of retries"
                    raise StoreUnavailableError(msg, self.shown) from None
                log.debug("hydraflow: %s on %s failed (%s), retry in %.2fs", what, self.shown, text, delay)
                delay = self._pause(delay, None)
                continue
            status = int(response.status_code)
            if status < 400:  # noqa: PLR2004
                self._ok()
                return response
            if status in _TRANSIENT_STATUS and time.monotonic() < self._give_up_at():
                log.debug("hydraflow: %s on %s answered %d, retry", what, self.shown, status)
                delay = self._pause(delay, response.headers.get("Retry-After"))
                continue
            self._ok()  # the server answered: whatever it said, it is not a passing trouble
            raise self._error(response, status, what)

    def _pause(self, delay: float, retry_after: str | None) -> float:
        wait = delay * (0.5 + random.random())  # noqa: S311 - jitter, not crypto
        if retry_after is not None and retry_after.strip().isdigit():
            wait = max(wait, min(float(retry_after), settings.server_retry_seconds()))
        time.sleep(wait)
        return min(delay * 2, _MAX_DELAY)

    def _error(self, response: Any, status: int, what: str) -> Exception:
        code, text = _error_of(response)
        phrase = f"{status} {http.client.responses.get(status, '')}".strip()
        if status in _AUTH_HINT:
            msg = f"MLflow tracking server {self.shown} refused the request ({what}): {phrase}"
            msg += f"{': ' + text if text and code else ''} ({_AUTH_HINT[status]})"
            return StoreAccessError(msg, self.shown)
        if status in _TRANSIENT_STATUS:
            msg = (
                f"MLflow tracking server {self.shown} is unavailable ({what}): {phrase}, still after "
                f"{settings.server_retry_seconds():g} s of retries"
            )
            return StoreUnavailableError(msg, self.shown)
        if code is None and status == 404:  # noqa: PLR2004 - not MLflow answering
            where = response.request.path_url.split("?")[0]
            msg = (
                f"no MLflow REST API at {self.shown} ({what}: 404 for {where}): is this the server's "
                "address, with its path prefix?"
            )
            return StoreRequestError(msg, self.shown, status, code)
        msg = f"MLflow tracking server {self.shown} answered {phrase} ({what}): {code or ''} {text}".rstrip()
        return StoreRequestError(msg, self.shown, status, code)

    # -------------------------------------------------------------------------------- calls

    def call(self, method: str, endpoint: str, *, what: str, **kwargs: Any) -> dict[str, Any]:
        """A REST call below ``/api/2.0/mlflow``; returns the JSON answer (a dict).

        Raises:
            StoreError: See :meth:`request`; also when the answer is not JSON.
        """
        response = self.request(method, API + endpoint, what=what, **kwargs)
        try:
            data = response.json()
        except ValueError:
            msg = f"MLflow tracking server {self.shown} answered {what} with something other than JSON"
            raise StoreRequestError(msg, self.shown, int(response.status_code), None) from None
        return data if isinstance(data, dict) else {}

    def artifact_bytes(self, path: str) -> bytes:
        """The content of one proxied artifact (``path`` below the server's artifact root: ``1/<run>/...``).

        Raises:
            StoreRequestError: No such artifact (``is_not_found``), or another error answer.
            StoreError: See :meth:`request`.
        """
        response = self.request("GET", f"{ARTIFACTS_API}/{quote(path.lstrip('/'))}", what="download artifact")
        return bytes(response.content)

    def artifact_list(self, path: str) -> list[tuple[str, bool]]:
        """The entries ``(name, is_dir)`` of a proxied artifact directory (none: a file or no such path)."""
        data = self.request("GET", ARTIFACTS_API, what="list artifacts", params={"path": path.strip("/")})
        try:
            files = json.loads(data.content or b"{}").get("files", [])
        except ValueError:
            files = []
        return [(str(f["path"]).rsplit("/", 1)[-1], bool(f.get("is_dir"))) for f in files if "path" in f]

    def artifact_walk(self, path: str) -> Iterator[str]:
        """Every file below a proxied artifact directory (paths relative to the artifact root)."""
        for name, is_dir in self.artifact_list(path):
            child = f"{path.rstrip('/')}/{name}"
            if is_dir:
                yield from self.artifact_walk(child)
            else:
                yield child


def check_server(uri: str, experiment_name: str | None = None) -> None:
    """Make sure the MLflow server at ``uri`` answers and lets this client in (one request).

    Used by ``@hydraflow.main`` before its first MLflow call, so a job aimed at a server that is down, at a
    wrong port, or behind a proxy that refuses it fails in about a second with a one-line error, instead of
    after MLflow's own four minutes of retries.

    Raises:
        StoreError: The server cannot be reached or refuses the request.
    """
    params = {"experiment_name": experiment_name or "Default"}
    try:
        ServerClient(uri).call("GET", "/experiments/get-by-name", what="get experiment", params=params)
    except StoreRequestError as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":  # an experiment still to create is fine
            raise
