"""Models by name: a model folder, or a Hugging Face model id (``org/name``) found in the local Hugging Face
cache, downloaded there first when the machine is online.

``locate_model`` turns either into a local folder before anything loads, so every command that takes a model
takes both. When a name is neither a folder nor a model the cache holds (offline: ``HF_HUB_OFFLINE=1``) or the
hub knows, ``ModelNotFoundError`` says in one line what to do; ``spec-decode`` prints it instead of a traceback.
Nothing heavy is imported here at module level (the command line imports the error class to catch it).
"""

from __future__ import annotations

import os
from pathlib import Path

# what a model folder needs (weights, configs, tokenizer, processor, chat template); not ONNX/GGUF/TF copies
HUB_FILES = ["*.json", "*.safetensors", "*.txt", "*.model", "*.jinja", "*.tiktoken"]
TRUE = ("1", "on", "yes", "true")


class ModelNotFoundError(FileNotFoundError):
    """A model name that is neither a folder nor a model in (or reachable for) the Hugging Face cache."""


def hub_offline() -> bool:
    """As huggingface_hub reads it, but at call time (tests and commands set it after import)."""
    return any(os.environ.get(var, "").strip().lower() in TRUE for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def hub_cache() -> Path:
    """The Hugging Face cache folder this process uses (``HF_HUB_CACHE``, else ``HF_HOME``/hub, else the default)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "huggingface")
    return Path(home).expanduser() / "hub"


def is_model_id(name: str) -> bool:
    """``org/name`` (or a bare ``name``) as the hub spells repository ids; paths are not ids."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    if name.startswith((".", "/", "~")) or name.count("/") > 1:
        return False
    try:
        validate_repo_id(name)
    except HFValidationError:
        return False
    return True


def locate_model(name: str | Path, role: str = "model") -> Path:
    """The local folder of ``name``: itself when it is a folder, else the cached snapshot of the hub model
    ``name`` (downloaded into the cache first unless offline). ``role`` ("target", "draft") goes into the
    message of the ``ModelNotFoundError`` raised when there is neither."""
    text = str(name)
    path = Path(text).expanduser()
    if path.is_dir():
        return path
    if path.exists():
        raise ModelNotFoundError(f"{role} model {text!r} is a file, not a model folder (or a Hugging Face model id)")
    if not is_model_id(text):
        raise ModelNotFoundError(f"{role} model {text!r} is neither a model folder nor a Hugging Face model id "
                                 f"(org/name): give the folder of a saved model or an id such as "
                                 f"HuggingFaceTB/SmolVLM-256M-Instruct")
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, RepositoryNotFoundError

    offline = hub_offline()
    cache = hub_cache()
    try:
        return Path(snapshot_download(text, cache_dir=cache, local_files_only=offline, allow_patterns=HUB_FILES))
    except (LocalEntryNotFoundError, FileNotFoundError) as err:
        if offline:
            raise ModelNotFoundError(
                f"{role} model {text!r} is not a folder and not in the Hugging Face cache ({cache}) and downloads "
                f"are off (HF_HUB_OFFLINE): run 'hf download {text}' where the machine is online (or unset "
                f"HF_HUB_OFFLINE), or give a model folder") from err
        raise ModelNotFoundError(f"{role} model {text!r}: could not download it into {cache} ({_first_line(err)}); "
                                 f"check the network, or give a model folder") from err
    except RepositoryNotFoundError as err:
        raise ModelNotFoundError(f"{role} model {text!r} is not a folder and the Hugging Face hub has no such model "
                                 f"(or it is gated: log in with 'hf auth login'); check the name") from err
    except (HfHubHTTPError, OSError) as err:
        raise ModelNotFoundError(f"{role} model {text!r}: could not download it into {cache} ({_first_line(err)}); "
                                 f"check the network, or give a model folder") from err


def _first_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return lines[0][:200] if lines else type(err).__name__
