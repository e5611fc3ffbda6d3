"""``spec-decode health``'s exit codes against a live verifier (0), a dead one (1), one whose keys refuse the
client (2) and a check that cannot run (3), over real sockets."""

from __future__ import annotations

import pytest
from bridge.conftest import serving

from spec_decode_ros.bridge.keys import create_keypair
from spec_decode_ros.bridge.security import ServerSecurity
from spec_decode_ros.cloud.health import ANSWERED, CANNOT_CHECK, DEAD, REFUSED, main
from spec_decode_ros.process_group import free_endpoint


def test_a_live_verifier_answers(target, capsys):
    with serving(target) as server:
        assert main([server.endpoint, "--timeout-s", "5"]) == ANSWERED
    assert "PONG" in capsys.readouterr().out


def test_a_dead_verifier_is_dead(capsys):
    assert main([free_endpoint(), "--timeout-s", "0.5"]) == DEAD
    assert "no answer within 0.5 s" in capsys.readouterr().err


@pytest.mark.timeout(60)
def test_keys_the_verifier_refuses_exit_2_and_allowed_keys_0(target, keys, capsys):
    create_keypair(keys, "stranger")  # a key pair whose public key is not in allowed/
    with serving(target, security=ServerSecurity.from_dir(keys)) as server:
        assert main([server.endpoint, "--keys", str(keys), "--timeout-s", "5"]) == ANSWERED  # DIR/health.key_secret
        assert main([server.endpoint, "--keys", str(keys), "--name", "stranger", "--timeout-s", "5"]) == REFUSED
        assert "HANDSHAKE_FAILED_AUTH" in capsys.readouterr().err
        assert main([server.endpoint, "--timeout-s", "5"]) == REFUSED  # plaintext to a CURVE server


def test_a_check_that_cannot_run_exits_3(tmp_path, capsys):
    assert main(["tcp://127.0.0.1:9", "--keys", str(tmp_path)]) == CANNOT_CHECK  # no key files there
    assert "does not exist" in capsys.readouterr().err
    assert main(["tcp://10.1.2.3:5555"]) == CANNOT_CHECK  # plaintext off loopback
    with pytest.raises(SystemExit) as exit_:
        main([])
    assert exit_.value.code == CANNOT_CHECK
