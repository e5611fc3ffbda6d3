"""Models by name: an ``org/name`` id loads from the Hugging Face cache offline (a cache laid out as
huggingface_hub lays it out, from a tiny model's ``save_pretrained``); a name that is neither a folder nor in
the cache is one line saying what to do, with exit code 2, through the real command line, never a traceback."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from decoding.tiny_models import build_llama

from spec_decode_ros import cli
from spec_decode_ros.decoding.hub import ModelNotFoundError, locate_model
from spec_decode_ros.decoding.models import load_model

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def fake_hub_cache(cache: Path, repo_id: str, folder: Path) -> Path:
    """``cache`` holding ``folder``'s files as the snapshot of ``repo_id`` at ``main``: blobs by hash, snapshot
    files linking to them, ``refs/main`` naming the commit (huggingface_hub's cache layout)."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / COMMIT
    (repo / "blobs").mkdir(parents=True)
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    for item in sorted(folder.iterdir()):
        data = item.read_bytes()
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        (snapshot / item.name).symlink_to(os.path.relpath(blob, snapshot))
    return snapshot


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "hf-cache"
    fake_hub_cache(cache, "lab-org/tiny-llama", build_llama(tmp_path / "built"))
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return cache


def test_a_model_id_in_the_cache_loads_by_name_offline(cache: Path, tmp_path: Path):
    snapshot = locate_model("lab-org/tiny-llama")
    assert snapshot == cache / "models--lab-org--tiny-llama" / "snapshots" / COMMIT
    model = load_model("lab-org/tiny-llama")
    reference = load_model(tmp_path / "built")
    assert model.name == str(snapshot) and model.num_layers == reference.num_layers
    assert model.tokenizer.get_vocab() == reference.tokenizer.get_vocab()
    for mine, theirs in zip(model.model.parameters(), reference.model.parameters(), strict=True):
        assert mine.equal(theirs)


def test_a_name_neither_folder_nor_cached_is_one_line_and_exit_2(cache: Path, capsys: pytest.CaptureFixture[str]):
    with pytest.raises(ModelNotFoundError, match="not in the Hugging Face cache"):
        locate_model("lab-org/not-there", "target")
    code = cli.main(["train-adapters", "lab-org/not-there", "--steps", "1"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("spec-decode train-adapters: target model 'lab-org/not-there' is not a folder and not in the "
                          "Hugging Face cache") and "hf download lab-org/not-there" in err


def test_a_path_that_is_not_an_id_says_so(tmp_path: Path):
    with pytest.raises(ModelNotFoundError, match="neither a model folder nor a Hugging Face model id"):
        locate_model(str(tmp_path / "missing"), "draft")
    with pytest.raises(ModelNotFoundError, match="is a file"):
        locate_model(__file__)


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_the_cloud_command_names_a_missing_model_in_one_line(tmp_path: Path):
    """``spec-decode cloud --model HuggingFaceTB/SmolVLM-256M-Instruct`` on a machine without it: no traceback."""
    env = dict(os.environ, HF_HUB_CACHE=str(tmp_path / "empty-cache"), HF_HUB_OFFLINE="1")
    run = subprocess.run([sys.executable, "-m", "spec_decode_ros.cli", "cloud", "--model",
                          "HuggingFaceTB/SmolVLM-256M-Instruct", "--bind", "tcp://127.0.0.1:5999"],
                         env=env, capture_output=True, text=True, timeout=50)
    assert run.returncode == 2, run.stderr
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert lines == [lines[0]] and lines[0].startswith(
        "spec-decode cloud: target model 'HuggingFaceTB/SmolVLM-256M-Instruct' is not a folder and not in the "
        "Hugging Face cache"), run.stderr
