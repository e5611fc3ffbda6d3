"""dtype and device names: what auto means, clear errors for bad names, and load_model honouring them (SDPA)."""

from __future__ import annotations

import argparse

import pytest
import torch

from decoding.tiny_models import IMAGE
from spec_decode_ros.decoding.acceptance import draft_probs_dense, sampling_verdict
from spec_decode_ros.decoding.models import load_model
from spec_decode_ros.decoding.precision import DTYPES, add_arguments, resolve_device, resolve_dtype
from spec_decode_ros.decoding.sampling import processed_probs
from spec_decode_ros.decoding.types import DraftBlock, Prompt, SamplingConfig


def test_names_resolve_and_auto_follows_the_machine():
    assert [resolve_dtype(n) for n in DTYPES[1:]] == [torch.float32, torch.bfloat16, torch.float16]
    assert resolve_dtype(torch.bfloat16) == torch.bfloat16
    assert resolve_dtype("auto", "cpu") == torch.float32  # no half precision by default on a CPU
    assert resolve_device("cpu") == torch.device("cpu")
    if torch.cuda.is_available():
        assert resolve_device("auto").type == "cuda"
        assert resolve_dtype("auto", "cuda") == (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32)
    else:
        assert resolve_device("auto") == torch.device("cpu")
        with pytest.raises(ValueError, match="no CUDA device"):
            resolve_device("cuda")


def test_bad_names_are_clear_errors():
    with pytest.raises(ValueError, match="not one of"):
        resolve_dtype("half")
    with pytest.raises(ValueError, match="not one of"):
        resolve_dtype(torch.int8)
    with pytest.raises(ValueError, match="not a torch device"):
        resolve_device("gpu0")
    ap = argparse.ArgumentParser()
    add_arguments(ap)
    assert vars(ap.parse_args([])) == {"dtype": "auto", "device": "auto"}
    with pytest.raises(SystemExit):
        ap.parse_args(["--dtype", "half"])
    with pytest.raises(SystemExit):
        ap.parse_args(["--device", "gpu0"])
    assert ap.parse_args(["--dtype", "bfloat16", "--device", "cpu"]).device == "cpu"


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_load_model_takes_dtype_and_uses_sdpa(model_dirs, dtype):
    model = load_model(model_dirs["llava"], dtype=dtype, device="cpu")
    assert model.model.dtype == getattr(torch, dtype)
    assert model.model.config._attn_implementation == "sdpa"
    enc = model.encode(Prompt("go to the red box", image=IMAGE))
    assert enc.extras["pixel_values"].dtype == getattr(torch, dtype)  # the processor's float32 pixels follow
    h = torch.zeros(1, 2, model.hidden_size, dtype=model.model.dtype)
    assert model.head(h).dtype == torch.float32  # logits for acceptance and sampling are float32


def test_acceptance_math_is_float32_on_half_precision_logits():
    torch.manual_seed(0)
    logits = torch.randn(3, 50).to(torch.bfloat16)  # [γ+1, V] as a bfloat16 head would give them
    cfg = SamplingConfig(do_sample=True, temperature=0.7, top_p=0.9)
    probs = processed_probs(logits, cfg)
    assert probs.dtype == torch.float32 and torch.allclose(probs.sum(-1), torch.ones(3))
    tokens = (int(probs[0].argmax()), int(probs[1].argmax()))
    ids = torch.topk(probs[:2], 4).indices.numpy()
    block = DraftBlock(tokens, prob_ids=ids, prob_values=(torch.ones(2, 4) / 4).numpy())
    dense = draft_probs_dense(block, 50)
    u = torch.zeros(3, dtype=torch.float64)  # accept everything acceptable
    v = torch.full((3,), 0.5, dtype=torch.float64)
    verdict = sampling_verdict(probs.to(torch.bfloat16), block, dense, u, v, frozenset())
    assert verdict.n_accepted == 2 and 0 <= verdict.next_token < 50
