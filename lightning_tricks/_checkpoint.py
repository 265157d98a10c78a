"""Read a checkpoint file with a message that names the file and the argument it came from.

Example::

    >>> import os, tempfile, torch
    >>> path = os.path.join(tempfile.mkdtemp(), "model.ckpt")
    >>> torch.save({"state_dict": {"w": torch.ones(1)}}, path)
    >>> load_checkpoint(path, "teacher_checkpoint")["state_dict"]["w"]
    tensor([1.])
    >>> with open(path, "wb") as f:
    ...     _ = f.write(b"not a checkpoint")
    >>> load_checkpoint(path, "teacher_checkpoint")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: `teacher_checkpoint` '...model.ckpt' is not a readable checkpoint ...
"""

from __future__ import annotations

import os
import pickle
import zipfile
from typing import Any

from lightning.fabric.utilities.cloud_io import _load

__all__ = ["load_checkpoint"]

#: what torch.load raises on a truncated, corrupt or foreign file (EOFError: empty or cut
#: short; UnpicklingError / KeyError / "Unsupported operand": bytes that are not a pickle;
#: RuntimeError / BadZipFile: a damaged zip archive)
_UNREADABLE = (
    EOFError,
    pickle.UnpicklingError,
    RuntimeError,
    KeyError,
    ValueError,
    IndexError,
    TypeError,
    AttributeError,
    UnicodeDecodeError,
    zipfile.BadZipFile,
    ImportError,
)


def load_checkpoint(
    path: str | os.PathLike[str], argument_name: str, map_location: Any = "cpu"
) -> Any:
    """``torch.load`` (through Lightning's loader, so remote paths work) of ``path``.

    Args:
        path: the file (local path or fsspec URL).
        argument_name: the argument the user gave ``path`` as (``teacher_checkpoint``,
            ``--ckpt_path``): named in every error.
        map_location: as ``torch.load``; CPU by default.

    Raises:
        FileNotFoundError: ``path`` does not exist (the message names the argument).
        ValueError: the file exists but is not a readable checkpoint (empty, truncated,
            corrupt, or not written by ``torch.save``); the cause is chained.
    """
    path_s = os.fspath(path)
    try:
        return _load(path_s, map_location=map_location)
    except FileNotFoundError as err:
        raise FileNotFoundError(f"`{argument_name}` {path_s!r} does not exist") from err
    except IsADirectoryError as err:
        raise ValueError(
            f"`{argument_name}` {path_s!r} is a directory, not a checkpoint file"
        ) from err
    except _UNREADABLE as err:
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        unsafe = [line for line in lines if "Unsupported global" in line]
        if unsafe:  # a real checkpoint holding objects that weights_only loading refuses
            raise ValueError(
                f"`{argument_name}` {path_s!r} holds Python objects that "
                f"torch.load(weights_only=True) does not load: {unsafe[0][:300]}"
            ) from err
        reason = (lines or [""])[-1 if "Weights only load failed" in str(err) else 0][:200]
        raise ValueError(
            f"`{argument_name}` {path_s!r} is not a readable checkpoint (empty, truncated, "
            f"corrupt, or not written by torch.save / Lightning): {type(err).__name__}: {reason}"
        ) from err
