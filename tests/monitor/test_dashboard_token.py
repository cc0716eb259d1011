"""The token: beyond loopback the health server needs one, and every request but
/liveness must present it (a bearer header, or ?token= for the browser's page)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_health import status

from kobe.cli import main
from kobe.config.errors import KobeError
from kobe.monitor.dashboard import render
from kobe.monitor.health import TOKEN_ENV, serve_health

TOKEN = "s3cret-token-for-the-dashboard"


def get(url: str, token: str | None = None) -> tuple[int, str, bytes]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers["Content-Type"], err.read()


@pytest.mark.parametrize("path", ["/health", "/readiness", "/metrics", "/metrics.json", "/", "/dashboard.json",
                                  "/static/plotly.min.js", "/static/dashboard.js", "/no-such-page"])
def test_every_request_but_liveness_needs_the_token(path: str) -> None:
    with serve_health(lambda: status(), port=0, dashboard=render, token=TOKEN) as url:
        code, kind, body = get(url + path)
        assert code == 401 and kind == "application/json" and b"token" in body
        assert get(url + path, token="not-" + TOKEN)[0] == 401
        assert get(url + path + "?token=wrong")[0] == 401
        expected = 404 if path == "/no-such-page" else 200
        assert get(url + path, token=TOKEN)[0] == expected
        assert get(url + path + f"?token={TOKEN}")[0] == expected
        assert get(url + "/liveness") == (200, "application/json", get(url + "/liveness", token=TOKEN)[2])


def test_writes_stay_refused_with_the_token() -> None:
    with serve_health(lambda: status(), port=0, token=TOKEN) as url:
        request = urllib.request.Request(url + "/health", method="POST", data=b"{}",
                                         headers={"Authorization": f"Bearer {TOKEN}"})
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(request, timeout=5)
        assert info.value.code == 405


def test_the_page_carries_the_token_on_its_own_requests() -> None:
    with serve_health(lambda: status(), port=0, dashboard=render, token=TOKEN) as url:
        page = get(url + f"/?token={TOKEN}")[2].decode()
    for link in ("/static/plotly.min.js", "/static/dashboard.js", "/static/dashboard.css", "/dashboard.json"):
        assert f'{link}?token={TOKEN}"' in page
    with serve_health(lambda: status(), port=0, dashboard=render) as url:
        assert "token" not in get(url + "/")[2].decode()        # none asked, none shown


def test_beyond_loopback_without_a_token_is_refused() -> None:
    with pytest.raises(KobeError) as info, serve_health(lambda: status(), host="0.0.0.0", port=0):
        pass
    assert TOKEN_ENV in (info.value.diagnostics[0].hint or "")
    with serve_health(lambda: status(), host="0.0.0.0", port=0, token=TOKEN) as url:
        local = url.replace("0.0.0.0", "127.0.0.1")
        assert get(local + "/health")[0] == 401
        assert json.loads(get(local + "/health", token=TOKEN)[2])["ready"]
        assert get(local + "/liveness")[0] == 200


def test_plotly_is_served_from_the_installed_package() -> None:
    from plotly.offline import get_plotlyjs  # type: ignore[import-untyped]

    with serve_health(lambda: status(), port=0, dashboard=render) as url:
        code, kind, body = get(url + "/static/plotly.min.js")
    assert code == 200 and kind.startswith("text/javascript") and body == get_plotlyjs().encode()


def test_kobe_run_refuses_to_listen_beyond_loopback_without_the_token(pinned_project_dir: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(pinned_project_dir)
    for name in ("ALPACA_API_KEY_ID", "ALPACA_API_SECRET_KEY", "ALPACA_BASE_URL", TOKEN_ENV):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(main, ["run", "--paper", "--once", "--from", "2018-01-26", "--health-port", "0",
                                       "--health-host", "0.0.0.0"])
    assert result.exit_code != 0
    assert "beyond loopback" in result.output and TOKEN_ENV in result.output, result.output
    assert "Traceback" not in result.output and not isinstance(result.exception, KobeError)
    assert not (pinned_project_dir / "state" / "heartbeat.json").exists()    # nothing started

    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    result = CliRunner().invoke(main, ["run", "--paper", "--once", "--from", "2018-01-26", "--health-port", "0",
                                       "--health-host", "0.0.0.0"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "stopped after 1 cycles" in result.output
