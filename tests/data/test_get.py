"""`routerlab data get`: the download path really runs against a local mirror, verified by SHA-256."""

import hashlib
import shutil
import time
from pathlib import Path

import pytest

from routerlab.config import ConfigError
from routerlab.data import get as get_mod
from routerlab.data.get import SOURCES, ChecksumError, DownloadError, RemoteFile, Source, data_dir, get

SHARED = Path(__file__).resolve().parents[2] / "../shared/data/routellm"


def _source(tmp_path: Path, files: dict[str, bytes]) -> Source:
    """A small source whose upstream layout lives in ``tmp_path/mirror``; checksums computed here."""
    mirror = tmp_path / "mirror"
    entries = []
    for remote, data in files.items():
        (mirror / remote).parent.mkdir(parents=True, exist_ok=True)
        (mirror / remote).write_bytes(data)
        entries.append(RemoteFile(f"local/{Path(remote).name}", remote, hashlib.sha256(data).hexdigest(), len(data)))
    return Source("toy", "http://127.0.0.1:9/", tuple(entries), "toy")


@pytest.fixture
def toy(tmp_path, monkeypatch):
    source = _source(tmp_path, {"evals/a.csv": b"prompt,m\nx,1\n", "evals/sub/b.jsonl": b'{"k": 1}\n'})
    monkeypatch.setitem(SOURCES, "toy", source)
    return source


@pytest.mark.parametrize("as_url", [False, True])
def test_get_from_a_mirror_verifies_and_caches(toy, tmp_path, as_url):
    mirror = tmp_path / "mirror"
    root = get("toy", mirror=mirror.as_uri() if as_url else mirror, cache_dir=tmp_path / "cache")
    assert root == data_dir("toy", tmp_path / "cache")
    assert (root / "local/a.csv").read_bytes() == b"prompt,m\nx,1\n"
    assert not list(root.rglob("*.part"))
    # Present and verified: a second call needs no mirror at all.
    shutil.rmtree(mirror)
    assert get("toy", mirror=tmp_path, cache_dir=tmp_path / "cache") == root


def test_checksum_mismatch_is_an_error_and_nothing_is_kept(toy, tmp_path):
    (tmp_path / "mirror/evals/a.csv").write_bytes(b"tampered\n")
    with pytest.raises(ChecksumError, match="checksum mismatch for .*a.csv.*not kept"):
        get("toy", mirror=tmp_path / "mirror", cache_dir=tmp_path / "cache")
    root = data_dir("toy", tmp_path / "cache")
    assert not (root / "local/a.csv").exists() and not list(root.rglob("*.part"))


def test_without_network_it_fails_fast_with_one_line(toy, tmp_path):
    start = time.perf_counter()
    with pytest.raises(DownloadError) as err:
        get("toy", cache_dir=tmp_path / "cache", timeout=2.0)  # base URL http://127.0.0.1:9/: refused
    assert time.perf_counter() - start < 5
    assert "\n" not in str(err.value) and "--mirror" in str(err.value)
    with pytest.raises(DownloadError, match="cannot download"):
        get("toy", mirror=(tmp_path / "empty").as_uri(), cache_dir=tmp_path / "cache")


def test_unknown_source_and_missing_checksums(tmp_path):
    with pytest.raises(ConfigError, match="unknown data source 'nope'"):
        get("nope", cache_dir=tmp_path)
    with pytest.raises(ConfigError, match="pass --sha256"):
        get("routerbench", cache_dir=tmp_path)


@pytest.mark.skipif(not SHARED.is_dir(), reason="RouteLLM's files are not at ../shared/data/routellm")
def test_routellm_manifest_matches_the_pinned_files_and_loads_offline(tmp_path, monkeypatch):
    """A mirror in the upstream layout built from ../shared: every recorded checksum matches,
    and the downloaded folder loads with the RouteLLM loaders."""
    from routerlab.data import load_gsm8k

    source = SOURCES["routellm"]
    assert get_mod.ROUTELLM_COMMIT in source.base_url and len(source.files) == 64  # 57 MMLU subjects, 6 more eval files, LICENSE
    mirror = tmp_path / "mirror"
    for entry in source.files:
        (mirror / entry.remote).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SHARED / entry.dest, mirror / entry.remote)
    root = get("routellm", mirror=mirror, cache_dir=tmp_path / "cache")
    assert len(load_gsm8k(root)) == 2 * 1307
