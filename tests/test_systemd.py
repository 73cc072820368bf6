"""systemd/edge-ocr.service: a unit systemd accepts, with the settings the daemon relies on."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parent.parent / "systemd" / "edge-ocr.service"


def settings() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            out.setdefault(key, []).append(value)
    return out


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    """`systemd-analyze verify` accepts the unit (ExecStart pointed at an existing binary)."""
    unit = tmp_path / "edge-ocr.service"
    unit.write_text(UNIT.read_text().replace("/opt/edge-ocr/venv/bin/edge-ocr", "/bin/true"))
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    problems = [line for line in result.stderr.splitlines() if "edge-ocr.service" in line]
    assert result.returncode == 0 and not problems, result.stderr


def test_unit_is_a_notify_service_with_watchdog_and_limits() -> None:
    """Type=notify, a watchdog, a memory limit, a dedicated user and the password credential."""
    s = settings()
    assert s["Type"] == ["notify"] and s["NotifyAccess"] == ["main"]
    assert s["Restart"] == ["on-failure"] and s["MemoryMax"] == ["300M"]
    assert s["User"] == ["edge-ocr"] and "WatchdogSec" in s
    assert s["LoadCredential"] == ["mqtt-password:/etc/edge-ocr/mqtt-password"]
    assert s["ExecReload"] == ["/bin/kill -HUP $MAINPID"]


def test_unit_is_hardened_but_keeps_camera_access() -> None:
    """The sandbox is strict, yet video devices and the video group stay reachable."""
    s = settings()
    for key in ("NoNewPrivileges", "ProtectHome", "PrivateTmp"):
        assert s[key] == ["yes"]
    assert s["ProtectSystem"] == ["strict"] and s["SupplementaryGroups"] == ["video"]
    assert "char-video4linux rw" in s["DeviceAllow"]


def test_install_script_is_valid_sh_and_installs_what_the_unit_expects() -> None:
    """install-pi.sh parses, and creates the user, config and credential the unit names."""
    script = UNIT.parent.parent / "scripts" / "install-pi.sh"
    assert subprocess.run(["sh", "-n", str(script)], timeout=30).returncode == 0
    text = script.read_text()
    for needed in (
        "useradd --system",
        "/etc/edge-ocr",
        "mqtt-password",
        "edge-ocr.yaml",
        "/var/lib/edge-ocr",
        "systemctl daemon-reload",
        "--system-site-packages",
    ):
        assert needed in text
