"""The systemd unit in deploy/ is one systemd can run as documented: Type=notify (the verifier sends READY=1,
``test_notify``), restart on failure, reload by SIGHUP (the allow-list re-read), keys from a read-only path, and
an ExecStart the cloud command accepts."""

from __future__ import annotations

import configparser
import shlex
from pathlib import Path

from spec_decode_ros.cloud.config import CloudConfig, build_parser

UNIT = Path(__file__).resolve().parents[2] / "deploy" / "spec-decode-cloud.service"


def unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text().replace("\\\n", " "))
    return parser


def test_the_unit_waits_for_readiness_restarts_on_failure_and_reloads_keys_by_sighup():
    service = unit()["Service"]
    assert service["Type"] == "notify" and service["NotifyAccess"] == "main"
    assert service["Restart"] == "on-failure"
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert service["User"] != "root"


def test_its_command_line_is_one_the_cloud_command_accepts_with_keys_from_the_protected_path():
    argv = shlex.split(unit()["Service"]["ExecStart"])
    assert argv[0].endswith("/spec-decode") and argv[1] == "cloud"
    config = CloudConfig.from_namespace(build_parser().parse_args(argv[2:]))
    assert config.keys is not None and str(config.keys).startswith("/etc/spec-decode")
    assert "/etc/spec-decode" in unit()["Service"]["ReadOnlyPaths"]
    assert config.metrics_port and config.metrics_host == "127.0.0.1" and config.log_format == "json"
