"""Run directories: the one place an experiment writes to.

Layout (see CONVENTIONS.md)::

    runs/<experiment>/<UTC time>-<config hash>/
        config.json     the resolved config (with the experiment name and scale)
        env.json        git SHA and dirty flag, library versions, devices, CPU count and kind, XLA_FLAGS, seed
        metrics.jsonl   one JSON object per logged record, deterministic (no timings)
        tb/             TensorBoard event files mirroring metrics.jsonl (routerlab.tracking)
        summary.json    the run's headline numbers
        artifacts/      figures and tables
        ckpt/           checkpoints (training runs)
        DONE            written last; a directory without it is an interrupted run

Every file except ``metrics.jsonl`` is written atomically (temp file + ``os.replace``).
``metrics.jsonl`` is append-only and fsynced per record; on reopening a run, a torn last
line (the process was killed mid-write) is cut off, so a resumed run never reads garbage.

Records may carry a ``"unit"`` key naming an independent piece of work (one seed of one
router, say). :meth:`RunDir.completed_units` lets a resumed run skip what is done; as each
unit draws its keys from named streams, the resumed ``metrics.jsonl`` is byte-identical to
an uninterrupted one.

Every record is also mirrored as TensorBoard scalars into ``tb/`` (tag
``<unit>/<split>/<key>``, at the record's ``step`` or index; see :mod:`routerlab.tracking`), so
``tensorboard --logdir runs/`` shows every run. The mirror is derived, never read back: a
resumed run appends to a new event file and does not re-mirror records already in
``metrics.jsonl``; a mirror that fails warns once and the run goes on.

One writer at a time: :meth:`RunDir.lock` takes an exclusive ``flock`` on ``.lock`` inside
the directory for as long as a run or a resume writes to it; a second writer is refused
with :class:`RunDirInvalid` rather than interleaving its records with the first's.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import fcntl
import json
import math
import os
import platform
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

from routerlab.config import canonical_json, config_hash, to_dict
from routerlab.runtime import cpu_isa, cpu_threads
from routerlab.tracking import TensorBoardMirror

__all__ = ["RunDir", "RunDirError", "RunDirInvalid", "atomic_write_text", "environment", "dumps", "find_runs",
           "git_sha", "take_file_lock"]

DONE = "DONE"
LOCK = ".lock"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class RunDirError(RuntimeError):
    """A run directory that is missing, incomplete or inconsistent."""


class RunDirInvalid(RunDirError):
    """A run directory that cannot be used as asked: another process writes it, a file in it
    is damaged, or resuming would lose records. Nothing was changed; the CLI exits 2."""


def dumps(record: Any) -> str:
    """Deterministic one-line JSON: sorted keys, shortest float repr; NaN/inf are refused."""
    return json.dumps(record, sort_keys=True, separators=(",", ":"), allow_nan=False, default=_to_json)


def _to_json(obj: Any) -> Any:
    # numpy and jax scalars and arrays, without importing either here.
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "item"):
        return obj.item()
    raise TypeError(f"not JSON-serializable: {type(obj).__name__}")


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the new one, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; a run's files are as readable as any other
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _git(*args: str) -> str | None:
    root = Path(__file__).resolve().parents[1]
    try:
        out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def take_file_lock(lock: Path, waiting: str) -> int:
    """An open descriptor of ``lock`` holding its exclusive ``flock``; while another process holds
    it, waits and prints ``routerlab: waiting for <waiting>`` once. If the holder removed the file
    meanwhile (holders unlink it while holding it), opens the path again, so a waiter never ends up
    holding a removed file. The caller unlocks and closes the descriptor."""
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                print(f"routerlab: waiting for {waiting}", file=sys.stderr, flush=True)
                fcntl.flock(fd, fcntl.LOCK_EX)
            if os.fstat(fd).st_ino == os.stat(lock).st_ino:
                return fd
        except FileNotFoundError:
            pass
        except BaseException:  # interrupted while waiting: no descriptor left open
            os.close(fd)
            raise
        os.close(fd)


def git_sha() -> str | None:
    """The checkout's HEAD commit (None outside git)."""
    return _git("rev-parse", "HEAD")


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def environment(seed: int | None = None) -> dict[str, Any]:
    """What a reader needs to rerun this: code version, library versions, devices, flags."""
    import jax

    sha = git_sha()
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "git_sha": sha,
        "git_dirty": bool(status) if status is not None else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": {d: _version(d) for d in ("routerlab", "jax", "jaxlib", "flax", "optax", "numpy", "datasets")},
        "devices": [str(d) for d in jax.devices()],
        "backend": jax.default_backend(),
        "cpu_threads": cpu_threads(),  # XLA:CPU's results depend on it (routerlab.runtime.cpu_threads)
        "cpu": cpu_isa(),  # and on the instruction sets it compiles for (routerlab.runtime.cpu_isa)
        "XLA_FLAGS": os.environ.get("XLA_FLAGS", ""),
        "argv": sys.argv,
        "seed": seed,
    }


def _utc_stamp() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


class RunDir:
    """A run directory. Create with :meth:`create`, reopen with :meth:`open`."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._tb: TensorBoardMirror | None = None

    # -- lifecycle ---------------------------------------------------------------------
    @classmethod
    def create(cls, root: Path | str, experiment: str, cfg: Any, *, scale: str | None = None,
               source: dict[str, str] | None = None) -> RunDir:
        """A new run directory for ``cfg`` under ``root/experiment``; writes config.json and env.json.

        ``experiment`` must be an identifier, and the directory must land inside ``root``
        (no ``..``, no symlink out). ``source``: a user's experiment file, recorded by
        name and sha256 (``experiment_file`` in config.json), never as a path.
        """
        if not isinstance(experiment, str) or not _NAME.fullmatch(experiment):
            raise RunDirInvalid(f"experiment name {experiment!r} is not an identifier; refusing to create a run directory from it")
        base = Path(root) / experiment
        if not base.resolve().is_relative_to(Path(root).resolve()):
            raise RunDirInvalid(f"{base} resolves outside {root}; refusing to write there")
        stamp, digest = _utc_stamp(), config_hash(cfg)
        path = base / f"{stamp}-{digest}"
        suffix = 1
        while path.exists():  # two runs of one config in the same second
            suffix += 1
            path = base / f"{stamp}-{digest}-{suffix}"
        try:
            path.mkdir(parents=True)
            (path / "artifacts").mkdir()
        except OSError as err:  # --out is a file, unwritable, ...
            raise RunDirInvalid(f"cannot create a run directory under {root}: {err.strerror or err}") from None
        run = cls(path)
        header = {"experiment": experiment, "scale": scale, "config_hash": digest, "config": to_dict(cfg)}
        if source is not None:
            header["experiment_file"] = dict(source)
        atomic_write_text(path / "config.json", json.dumps(header, indent=2, sort_keys=True) + "\n")
        seed = getattr(cfg, "seed", None)
        atomic_write_text(path / "env.json", json.dumps(environment(seed), indent=2, sort_keys=True) + "\n")
        return run

    @classmethod
    def open(cls, path: Path | str, *, repair: bool = True) -> RunDir:
        """Reopen an existing run (to resume or read it); cuts a torn last metrics line unless
        ``repair=False`` (a resume repairs only once it holds the lock)."""
        run = cls(Path(path))
        if not (run.path / "config.json").is_file():
            raise RunDirInvalid(f"{run.path}: not a run directory (no config.json)")
        run.check_no_links()
        run.header  # noqa: B018 -- a damaged config.json fails here, in one line
        if repair:
            run.repair_metrics()
        return run

    def check_no_links(self) -> None:
        """Refuse a run directory that holds a symbolic link anywhere inside it.

        A run directory is data someone may have downloaded. Everything routerlab writes into
        it (metrics, the lock, the report, figures, checkpoints) must stay inside it, and a
        planted link (``artifacts -> ~/.ssh``) would redirect those writes, so a run with
        links is refused before anything is read or written.
        """
        for folder, dirs, files in os.walk(self.path, followlinks=False):
            for name in (*dirs, *files):
                entry = Path(folder) / name
                if entry.is_symlink():
                    raise RunDirInvalid(f"{entry}: a symbolic link inside a run directory; refusing to use this run "
                                        "(a run directory holds only its own files)")

    @contextlib.contextmanager
    def lock(self) -> Iterator[RunDir]:
        """Hold the run's exclusive writer lock (``flock`` on ``.lock``), or raise :class:`RunDirInvalid`.

        The kernel drops the lock when its process dies (kill -9 included), so a crashed
        writer never leaves the run locked.
        """
        fd = os.open(self.path / LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RunDirInvalid(f"{self.path}: another routerlab process is writing this run (its lock is held); "
                                "wait for it to finish or stop it") from None
        try:
            yield self
        finally:
            self.close()
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def untouched(self) -> bool:
        """Whether the run holds nothing beyond what :meth:`create` wrote (config.json, env.json, an empty artifacts/)."""
        names = {p.name for p in self.path.iterdir()}
        if not names <= {"config.json", "env.json", "artifacts", LOCK}:
            return False
        return not (self.path / "artifacts").is_dir() or not any((self.path / "artifacts").iterdir())

    @property
    def done(self) -> bool:
        return (self.path / DONE).is_file()

    def finish(self, summary: dict[str, Any] | None = None) -> None:
        """Write summary.json (if given), then DONE: last, so DONE means everything else is there."""
        if summary is not None:
            self.write_json("summary.json", summary)
        self.close()
        atomic_write_text(self.path / DONE, _utc_stamp() + "\n")

    def close(self) -> None:
        """Flush and close this process's TensorBoard event file (a later :meth:`log` opens a new one)."""
        if self._tb is not None:
            self._tb.close()

    def require_done(self) -> RunDir:
        if not self.done:
            raise RunDirInvalid(f"{self.path}: incomplete run (no DONE); resume it with `routerlab run --resume {self.path}`")
        return self

    # -- contents ------------------------------------------------------------------------
    @property
    def header(self) -> dict[str, Any]:
        path = self.path / "config.json"
        try:
            header = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise RunDirInvalid(f"{path}: not valid JSON ({err})") from None
        if not isinstance(header, dict) or not isinstance(header.get("config"), dict):
            raise RunDirInvalid(f"{path}: not a run header (expected an object with 'experiment' and 'config')")
        return header

    @property
    def experiment(self) -> str:
        return self.header["experiment"]

    @property
    def config(self) -> dict[str, Any]:
        return self.header["config"]

    @property
    def summary(self) -> dict[str, Any]:
        return self.read_json("summary.json")

    @property
    def artifacts(self) -> Path:
        path = self.path / "artifacts"
        path.mkdir(exist_ok=True)
        return path

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.jsonl"

    def log(self, record: dict[str, Any]) -> None:
        """Append one record to metrics.jsonl and fsync it, then mirror it to ``tb/``."""
        for key, value in record.items():
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"metrics record field {key!r} is {value}; refusing to log a non-finite number")
        line = dumps(record) + "\n"
        fd = os.open(self.metrics_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o666)
        with os.fdopen(fd, "a") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
        if self._tb is None:
            self._tb = TensorBoardMirror(self.path, self.metrics_path)
        self._tb.write(record)

    def records(self) -> Iterator[dict[str, Any]]:
        """The records of metrics.jsonl (a torn last line is skipped); a damaged line raises
        :class:`RunDirInvalid` naming the file and the line number."""
        if not self.metrics_path.exists():
            return
        with open(self.metrics_path, "rb") as f:
            for number, line in enumerate(f, 1):
                if line.endswith(b"\n"):
                    yield _parse_record(self.metrics_path, number, line)

    def completed_units(self) -> set[str]:
        return {r["unit"] for r in self.records() if "unit" in r}

    def write_json(self, name: str, obj: Any) -> Path:
        path = self.path / name
        atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_to_json) + "\n")
        return path

    def read_json(self, name: str) -> Any:
        return json.loads((self.path / name).read_text())

    def repair_metrics(self) -> None:
        path = self.metrics_path
        if not path.exists():
            return
        data = path.read_bytes()
        if data and not data.endswith(b"\n"):
            keep = data[: data.rfind(b"\n") + 1]
            atomic_write_text(path, keep.decode())

    def matches(self, cfg: Any) -> bool:
        """Whether this run was made from exactly ``cfg``."""
        return canonical_json(self.config) == canonical_json(cfg)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r}, done={self.done})"


def _parse_record(path: Path, number: int, line: bytes) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise RunDirInvalid(f"{path}:{number}: not a JSON record ({err.__class__.__name__}: {err}); "
                            "the file is damaged: restore it or cut the run back to its last good line") from None
    if not isinstance(record, dict):
        raise RunDirInvalid(f"{path}:{number}: not a JSON object: {line[:60]!r}")
    return record


def find_runs(root: Path | str, experiment: str | None = None, *, done_only: bool = True) -> list[RunDir]:
    """Run directories under ``root`` (optionally of one experiment), oldest first."""
    root = Path(root)
    pattern = f"{experiment}/*/config.json" if experiment else "*/*/config.json"
    runs = [RunDir(p.parent) for p in sorted(root.glob(pattern))]
    return [r for r in runs if r.done or not done_only]
