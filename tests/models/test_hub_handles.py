"""Google's TF Hub ELMo module by its handle (`elmo_keras.io.hub_handles`), against a
local HTTP server on 127.0.0.1 only.

A replica module (`tests/support/hub_replica.py`) is served as a `.tar.gz` the way
tfhub.dev serves `google/elmo/3`: the handle's compressed download answers with a
redirect to the file (tfhub.dev -> Kaggle -> storage). `ELMO_KERAS_HUB_BASE_URL` points
the handles at the server, `KERAS_HOME` at the test's own folder.
"""

import hashlib
import json

import numpy as np
import pytest

import elmo_keras as ek
from elmo_keras.io import downloads, hub_handles
from elmo_keras.io import tfhub_module as hub
from tests.support import local_http
from tests.support.local_http import local_only, server  # noqa: F401 (fixtures)
from tests.support.hub_replica import (OPTIONS, build_replica, files_under,
                                       module_entries, tarball, write_module)
from tests.support.processes import run_python

HANDLE = "https://tfhub.dev/google/elmo/3"
KAGGLE = "https://www.kaggle.com/models/google/elmo/tensorFlow1/elmo/3"
COMPRESSED = "/hub/google/elmo/3?tf-hub-format=compressed"  # the path asked for
FILE = "/storage/google_elmo_3.tar.gz"  # where it redirects
IDS = ek.batch_to_ids([["The", "bank", "of", "the", "river", "."], ["Hi"]])

def _fetch(handle):
    return hub_handles.fetch_hub_module(handle, progress=False)


LOADERS = [pytest.param(_fetch, id="fetch_hub_module"),
           pytest.param(ek.ELMo.from_preset, id="from_preset")]


@pytest.fixture(scope="module")
def replica(tmp_path_factory):
    """The replica module and its tarball's bytes, laid out as TF Hub's download."""
    made = build_replica(tmp_path_factory.mktemp("hub"))
    entries = module_entries(made["module"])
    made["entries"] = entries
    made["tarball"] = tarball(made["root"] / "elmo_3.tar.gz", entries).read_bytes()
    return made


@pytest.fixture
def site(server, replica, tmp_path, monkeypatch):
    """The replica served as google/elmo/3, through the base-URL override."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv(hub_handles.HUB_BASE_URL_ENV, f"http://127.0.0.1:{server.server_port}/hub")
    server.routes = {COMPRESSED: (FILE, "redirect"), FILE: (replica["tarball"], "ok")}
    server.requests = []
    return server


def _cache(tmp_path):
    return files_under(tmp_path / "keras") if (tmp_path / "keras").exists() else []


@pytest.mark.parametrize("handle, name, url", [
    (HANDLE, "google_elmo_3", HANDLE + "?tf-hub-format=compressed"),
    ("https://tfhub.dev/google/elmo/2", "google_elmo_2",
     "https://tfhub.dev/google/elmo/2?tf-hub-format=compressed"),
    (HANDLE + "?tf-hub-format=compressed", "google_elmo_3", HANDLE + "?tf-hub-format=compressed"),
    (KAGGLE, "google_elmo_3", HANDLE + "?tf-hub-format=compressed"),
    ("https://www.kaggle.com/models/google/elmo/frameworks/TensorFlow1/variations/elmo/"
     "versions/3", "google_elmo_3", HANDLE + "?tf-hub-format=compressed"),
    ("https://www.kaggle.com/api/v1/models/google/elmo/tensorFlow1/elmo/3/download",
     "google_elmo_3",
     "https://www.kaggle.com/api/v1/models/google/elmo/tensorFlow1/elmo/3/download"),
    ("https://mirror.example/models/elmo_3.tar.gz",
     "url_" + hashlib.sha256(b"https://mirror.example/models/elmo_3.tar.gz").hexdigest()[:16],
     "https://mirror.example/models/elmo_3.tar.gz"),
])
def test_handles_name_one_module_and_its_download(handle, name, url, monkeypatch):
    monkeypatch.delenv(hub_handles.HUB_BASE_URL_ENV, raising=False)
    assert hub_handles.is_hub_handle(handle)
    assert hub_handles.hub_source(handle) == (name, url)


def test_what_is_not_a_handle_or_not_elmo(monkeypatch):
    for value in ("elmo_small_en", "/path/to/elmo_3", "elmo_3.tar.gz", "https://example.com/x",
                  "ftp://tfhub.dev/google/elmo/3", None):
        assert not hub_handles.is_hub_handle(value), value
    for handle, why in (("https://tfhub.dev/google/nnlm-en-dim128/2", "not Google's ELMo"),
                        ("https://tfhub.dev/google/elmo", "name the module's version"),
                        ("https://www.kaggle.com/models/google/elmo/tensorFlow2/elmo/3",
                         "name the TF1 module and its version"),
                        ("https://www.kaggle.com/models/google/bert", "not Google's ELMo")):
        with pytest.raises(hub_handles.HubHandleError, match=why):
            hub_handles.fetch_hub_module(handle)
    monkeypatch.setenv(hub_handles.HUB_BASE_URL_ENV, "ftp://mirror")
    with pytest.raises(hub_handles.HubHandleError, match="ELMO_KERAS_HUB_BASE_URL='ftp://"):
        hub_handles.hub_source(HANDLE)


def test_fetch_downloads_unpacks_checks_and_caches(site, replica, tmp_path):
    module = hub_handles.fetch_hub_module(HANDLE, progress=False)
    assert module == tmp_path / "keras" / "elmo_keras" / "hub" / "google_elmo_3"
    assert hub_handles.hub_cache_dir(KAGGLE) == module
    assert site.requests == [COMPRESSED, FILE]  # the redirect followed
    # Only the module and its record are kept: no tarball, no temporary folder.
    expected = files_under(replica["module"]) + [hub_handles.VERIFIED_FILE]
    assert _cache(tmp_path) == [f"elmo_keras/hub/google_elmo_3/{f}" for f in sorted(expected)]
    record = json.loads((module / hub_handles.VERIFIED_FILE).read_text())
    assert record["tarball_sha256"] == hashlib.sha256(replica["tarball"]).hexdigest()
    assert record["options"] == OPTIONS and record["handle"] == HANDLE
    options, weights = hub.read_hub_module(module)
    assert options == OPTIONS
    np.testing.assert_array_equal(weights[hub.MIX_WEIGHTS], replica["mix"])
    # Every form of google/elmo/3 is the same cache entry: no request.
    assert hub_handles.fetch_hub_module(KAGGLE, progress=False) == module
    assert site.requests == [COMPRESSED, FILE]


def test_from_preset_of_a_handle_is_the_module(site, replica):
    model = ek.ELMo.from_preset(HANDLE)
    assert len(site.requests) == 2
    reference = ek.ELMo.from_preset(replica["module"])
    out, ref = model(IDS), reference(IDS)
    for key in ("lm_embeddings", "token_embeddings", "mask"):
        np.testing.assert_array_equal(np.asarray(out[key]), np.asarray(ref[key]), err_msg=key)
    np.testing.assert_array_equal(np.asarray(out["elmo_representations"][0]),
                                  np.asarray(ref["elmo_representations"][0]))
    again = ek.ELMo.from_preset(KAGGLE)  # the cache: no request
    assert len(site.requests) == 2
    np.testing.assert_array_equal(np.asarray(again(IDS)["lm_embeddings"]),
                                  np.asarray(out["lm_embeddings"]))


@pytest.mark.parametrize("load", LOADERS)
@pytest.mark.parametrize("bad, why", [
    (("../../../../evil", "file", b"x"), "absolute path or '..'"),
    (("./variables/link", "symlink", "/etc/passwd"), "is a symlink"),
])
def test_unsafe_tarball_is_refused_and_nothing_is_written(site, replica, tmp_path, load,
                                                          bad, why):
    body = tarball(tmp_path / "bad.tar.gz", [*replica["entries"], bad]).read_bytes()
    (tmp_path / "bad.tar.gz").unlink()
    site.routes[FILE] = (body, "ok")
    with pytest.raises(hub.HubModuleError, match=why) as info:
        load(HANDLE)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"http://127.0.0.1:{site.server_port}"
                                                      f"{COMPRESSED}: not a usable ELMo")
    assert files_under(tmp_path) == []  # nothing anywhere, the cache included


@pytest.mark.parametrize("load", LOADERS)
def test_truncated_or_cut_download_leaves_nothing_used_later(site, replica, tmp_path, load):
    good = replica["tarball"]
    site.routes[FILE] = (good[: len(good) * 2 // 3], "ok")  # a complete, truncated file
    with pytest.raises(hub.HubModuleError, match="corrupt tar archive|not a readable tar"):
        load(HANDLE)
    assert _cache(tmp_path) == []
    site.routes[FILE] = (good, "cut")  # the server goes away mid-file
    with pytest.raises(downloads.DownloadError, match="the connection closed after"):
        load(HANDLE)
    assert _cache(tmp_path) == []
    site.routes[FILE] = (good, "ok")
    site.requests = []
    load(HANDLE)  # downloaded again, from the start
    assert site.requests == [COMPRESSED, FILE]
    assert any(f.endswith("variables/variables.index") for f in _cache(tmp_path))


def test_a_tarball_of_another_layout_is_refused(site, replica, tmp_path):
    entries = [e for e in replica["entries"] if e[0] != "./tfhub_module.pb"]
    site.routes[FILE] = (tarball(tmp_path / "x.tar.gz", entries).read_bytes(), "ok")
    with pytest.raises(hub.HubModuleError, match="no tfhub_module.pb: not a TF1 Hub module"):
        _fetch(HANDLE)
    variables = dict(replica["variables"])  # a variable missing: the reader refuses it
    del variables["bilm/CNN_high_0/b_carry"]
    broken = write_module(tmp_path / "broken", variables)
    site.routes[FILE] = (tarball(tmp_path / "y.tar.gz", module_entries(broken)).read_bytes(),
                         "ok")
    with pytest.raises(hub.HubModuleError,
                       match=r"missing variable\(s\) bilm/CNN_high_0/b_carry"):
        _fetch(HANDLE)
    assert _cache(tmp_path) == []


@pytest.mark.parametrize("load", LOADERS)
def test_unreachable_host_says_how_to_pass_a_directory(site, tmp_path, monkeypatch, load):
    port = local_http.closed_port()
    monkeypatch.setenv(hub_handles.HUB_BASE_URL_ENV, f"http://127.0.0.1:{port}")
    with pytest.raises((downloads.DownloadError, ek.PresetError)) as info:
        load(HANDLE)
    message = str(info.value)
    url = f"http://127.0.0.1:{port}/google/elmo/3?tf-hub-format=compressed"
    assert "\n" not in message and message.startswith(f"{url}: download failed: ")
    assert 'pass the directory: ELMo.from_preset("/path/to/elmo")' in message
    assert _cache(tmp_path) == []


def test_fetching_needs_tensorflow_before_downloading(tmp_path):
    """Without TensorFlow the module cannot be read: said before anything is fetched
    (the closed port would otherwise give a download error)."""
    code = """
    import sys
    from elmo_keras.io.hub_handles import fetch_hub_module
    try:
        fetch_hub_module(sys.argv[1])
    except ImportError as e:
        print(e)
    """
    url = f"http://127.0.0.1:{local_http.closed_port()}/elmo_3.tar.gz"
    out = run_python(code, url, backend="jax").stdout
    assert "reading a TF Hub module needs TensorFlow" in out
