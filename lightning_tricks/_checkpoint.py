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

__all__ = ["check_checkpoint_file", "load_checkpoint"]

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


def check_checkpoint_file(path: str | os.PathLike[str], argument: str) -> None:
    """Raise a clear ``ValueError`` if the local file ``path`` is not a readable checkpoint.

    A file written by ``torch.save`` (and so every Lightning checkpoint) is a zip archive
    whose members carry CRC-32 checksums: a truncated file has no readable zip directory and
    a damaged one fails the checksum, both found here by reading the file once, without
    unpickling anything. Paths that are not local files (URLs, sharded checkpoint folders,
    Lightning's ``"last"`` / ``"best"``) and legacy (pre-zip) ``torch.save`` files are left
    to the loader.

    Args:
        path: the file.
        argument: how the user gave it, for the message (e.g. ``"`--ckpt_path`"``).

    Raises:
        ValueError: ``"<argument> '<path>' is not a readable checkpoint: ..."``.

    Example::

        >>> import tempfile, pathlib
        >>> bad = pathlib.Path(tempfile.mkdtemp()) / "bad.ckpt"
        >>> _ = bad.write_bytes(b"not a checkpoint")
        >>> check_checkpoint_file(bad, "`--ckpt_path`")
        Traceback (most recent call last):
        ...
        ValueError: `--ckpt_path` '...bad.ckpt' is not a readable checkpoint: ...
    """
    path_s = os.fspath(path)
    if not os.path.isfile(path_s):
        return
    with open(path_s, "rb") as f:
        head = f.read(4)
    problem = None
    if head[:1] == b"\x80":  # a legacy (pickle-based) torch.save file
        return
    if head != b"PK\x03\x04":
        problem = (
            "it is not a file written by torch.save or Lightning (no zip archive); "
            f"it starts with {head!r}"
        )
    else:
        try:
            with zipfile.ZipFile(path_s) as archive:
                bad_member = archive.testzip()
                names = archive.namelist()
        except (zipfile.BadZipFile, OSError, EOFError) as err:
            problem = f"the zip archive is truncated or damaged ({err})"
        else:
            if bad_member is not None:
                problem = f"its member {bad_member!r} is damaged (CRC check failed)"
            elif not any(name.endswith("data.pkl") for name in names):
                problem = "the zip archive holds no torch.save data (no data.pkl)"
    if problem is not None:
        raise ValueError(
            f"{argument} {path_s!r} is not a readable checkpoint: {problem}. The file may be "
            "truncated or corrupt (e.g. written by a run that was killed while saving): "
            "use another checkpoint, or save it again"
        )
