"""The published (AllenNLP) presets: the registry's data, and `published_dir` downloading
into the Keras cache, checked, against a local HTTP server on 127.0.0.1 only.

A tiny random bilm-tf model is served under the file names of one registered preset
(through `ELMO_KERAS_PRESET_BASE_URL`), with that preset's registry entry given the tiny
model's architecture for the test, and `KERAS_HOME` in the test's own folder."""

import copy
import hashlib
import os
import urllib.parse

import h5py
import numpy as np
import pytest

import elmo_keras as ek
from elmo_keras.io import downloads
from elmo_keras.io.bilm_options import check_model_config
from elmo_keras.models.elmo import published_download as pp
from tests.support import local_http
from tests.support.local_http import local_only, server  # noqa: F401 (fixtures)

NAME = "elmo_allennlp_small_en"
ARCH = {"filters": [[1, 4], [2, 8]], "char_embedding_dim": 4, "n_highway": 1,
        "lstm_dim": 16, "projection_dim": 8, "n_layers": 2}
OPTIONS = {
    "char_cnn": {"activation": "relu", "embedding": {"dim": 4}, "filters": ARCH["filters"],
                 "max_characters_per_token": 50, "n_characters": 262, "n_highway": 1},
    "lstm": {"cell_clip": 3, "dim": 16, "n_layers": 2, "proj_clip": 3, "projection_dim": 8,
             "use_skip_connections": True},
}
IDS = ek.batch_to_ids([["The", "river", "bank", "."], ["Hi"]])


@pytest.fixture(scope="module")
def tiny_files(tmp_path_factory):
    """A tiny random bilm-tf model: (options path, weights path)."""
    folder = tmp_path_factory.mktemp("tiny")
    model = ek.ELMo.from_options(OPTIONS)
    ek.save_bilm(model, folder / "options.json", folder / "weights.hdf5")
    return folder / "options.json", folder / "weights.hdf5"


def _url_path(fname):
    return urllib.parse.urlsplit(pp.file_url(pp.PUBLISHED[NAME]["files"][fname]["url"])).path


@pytest.fixture
def site(server, tiny_files, tmp_path, monkeypatch):
    """The tiny model served as NAME's files; NAME's entry set to its architecture."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv(pp.BASE_URL_ENV, f"http://127.0.0.1:{server.server_port}/mirror/")
    entry = copy.deepcopy(pp.PUBLISHED[NAME])
    entry["architecture"] = dict(ARCH)
    entry["params"] = ek.load_options(OPTIONS).parameter_count()
    monkeypatch.setitem(pp.PUBLISHED, NAME, entry)
    options, weights = tiny_files
    server.routes = {_url_path(pp.OPTIONS_FILE): (options.read_bytes(), "ok"),
                     _url_path(pp.WEIGHTS_FILE): (weights.read_bytes(), "ok")}
    server.requests = []
    return server


def _cache_files(tmp_path):
    """Every file under the test's Keras cache, hidden ones too."""
    root = tmp_path / "keras"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def _weights_url():
    return pp.file_url(pp.PUBLISHED[NAME]["files"][pp.WEIGHTS_FILE]["url"])


def test_registry_holds_the_four_published_models():
    assert sorted(pp.PUBLISHED) == ["elmo_allennlp_medium_en", "elmo_allennlp_original_5_5b_en",
                                    "elmo_allennlp_original_en", "elmo_allennlp_small_en"]
    millions = {}
    for name, entry in pp.PUBLISHED.items():
        folder = entry["allennlp_name"]
        for fname, kind in ((pp.OPTIONS_FILE, "options.json"), (pp.WEIGHTS_FILE, "weights.hdf5")):
            assert entry["files"][fname]["url"] == (
                f"https://s3-us-west-2.amazonaws.com/allennlp/models/elmo/{folder}/elmo_{folder}_"
                f"{kind}")
        assert entry["license"] == "Apache-2.0" and "AllenNLP" in entry["source"]
        assert "1802.05365" in entry["paper"] and entry["description"]
        # The parameter count is the architecture's (what ELMo.count_params() gives).
        arch = entry["architecture"]
        assert entry["params"] == check_model_config(arch).parameter_count()
        millions[name] = round(entry["params"] / 1e6, 1)
    assert millions == {"elmo_allennlp_small_en": 13.6, "elmo_allennlp_medium_en": 28.0,
                        "elmo_allennlp_original_en": 93.6,
                        "elmo_allennlp_original_5_5b_en": 93.6}
    weights = pp.PUBLISHED["elmo_allennlp_original_en"]["files"][pp.WEIGHTS_FILE]
    assert weights["size"] == 374_434_792 and weights["sha256"].startswith("a6b92b9c")
    assert pp.PUBLISHED[NAME]["files"][pp.WEIGHTS_FILE]["sha256"] is None


def test_listing_downloads_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.delenv(pp.BASE_URL_ENV, raising=False)
    listing = pp.list_published()
    entry = listing["elmo_allennlp_original_en"]
    assert entry["bundled"] is False and entry["cached"] is False
    assert entry["download_size"] == 374_434_792 and entry["license"] == "Apache-2.0"
    assert entry["path"] == str(tmp_path / "keras" / "elmo_keras" / "elmo_allennlp_original_en")
    assert listing[NAME]["download_size"] is None
    assert _cache_files(tmp_path) == []


def test_downloads_once_then_uses_the_cache(site, tiny_files, tmp_path):
    directory = pp.published_dir(NAME)
    assert directory == str(tmp_path / "keras" / "elmo_keras" / NAME)
    assert sorted(site.requests) == sorted([_url_path(pp.OPTIONS_FILE),
                                            _url_path(pp.WEIGHTS_FILE)])
    assert _cache_files(tmp_path) == [f"elmo_keras/{NAME}/{f}" for f in
                                      (pp.VERIFIED_FILE, "options.json", "weights.hdf5")]
    assert pp.published_dir(NAME) == directory
    assert len(site.requests) == 2  # the second call made none
    assert pp.list_published()[NAME]["cached"] is True
    loaded = ek.ELMo.from_preset(directory)
    expected = ek.load_bilm(*tiny_files)
    np.testing.assert_array_equal(np.asarray(loaded(IDS)["lm_embeddings"]),
                                  np.asarray(expected(IDS)["lm_embeddings"]))


def test_hash_mismatch_is_refused_and_removed(site, tiny_files, tmp_path, monkeypatch):
    good = tiny_files[1].read_bytes()
    expected = hashlib.sha256(good).hexdigest()
    monkeypatch.setitem(pp.PUBLISHED[NAME]["files"][pp.WEIGHTS_FILE], "sha256", expected)
    wrong = good[:-1] + bytes([good[-1] ^ 1])
    site.routes[_url_path(pp.WEIGHTS_FILE)] = (wrong, "ok")
    with pytest.raises(downloads.DownloadError) as info:
        pp.published_dir(NAME)
    message = str(info.value)
    assert "\n" not in message and message.startswith(_weights_url())
    assert f"expected {expected}" in message
    assert f"sha256 {hashlib.sha256(wrong).hexdigest()}" in message
    assert not any("weights" in f for f in _cache_files(tmp_path))  # no file, no .part

    # The right file is taken; a cached copy spoilt later is downloaded again.
    site.routes[_url_path(pp.WEIGHTS_FILE)] = (good, "ok")
    directory = pp.published_dir(NAME)
    with open(os.path.join(directory, "weights.hdf5"), "ab") as f:
        f.write(b"spoilt")
    site.requests = []
    pp.published_dir(NAME)
    assert site.requests == [_url_path(pp.WEIGHTS_FILE)]
    assert downloads.file_sha256(os.path.join(directory, "weights.hdf5")) == expected


def test_interrupted_download_leaves_nothing(site, tiny_files, tmp_path):
    body, _ = site.routes[_url_path(pp.WEIGHTS_FILE)]
    site.routes[_url_path(pp.WEIGHTS_FILE)] = (body, "cut")
    with pytest.raises(downloads.DownloadError,
                       match=rf"^{_weights_url()}: the connection closed after "
                             rf"{len(body) // 2} of {len(body)} bytes"):
        pp.published_dir(NAME)
    assert not any("weights" in f for f in _cache_files(tmp_path))
    site.routes[_url_path(pp.WEIGHTS_FILE)] = (body, "ok")
    site.requests = []
    directory = pp.published_dir(NAME)  # the partial file was not kept: fetched again
    assert site.requests == [_url_path(pp.WEIGHTS_FILE)]
    assert open(os.path.join(directory, "weights.hdf5"), "rb").read() == body


def test_wrong_model_is_refused_before_use(site, tiny_files, tmp_path, monkeypatch):
    # Options of another architecture than the registry's: refused, weights never asked.
    monkeypatch.setitem(pp.PUBLISHED[NAME], "architecture", {**ARCH, "lstm_dim": 32})
    options_url = pp.file_url(pp.PUBLISHED[NAME]["files"][pp.OPTIONS_FILE]["url"])
    with pytest.raises(ek.PresetError, match=rf"^{options_url}: these options give lstm_dim=16"
                                             rf", but {NAME} has lstm_dim=32"):
        pp.published_dir(NAME)
    assert site.requests == [_url_path(pp.OPTIONS_FILE)] and _cache_files(tmp_path) == []

    # Weights that miss a dataset the options need: refused, both files deleted.
    monkeypatch.setitem(pp.PUBLISHED[NAME], "architecture", dict(ARCH))
    broken = tmp_path / "broken.hdf5"
    broken.write_bytes(tiny_files[1].read_bytes())
    with h5py.File(broken, "a") as f:
        del f["char_embed"]
    site.routes[_url_path(pp.WEIGHTS_FILE)] = (broken.read_bytes(), "ok")
    with pytest.raises(ek.PresetError, match=rf"^{_weights_url()}: does not match its options"
                                             r" \(.*missing dataset 'char_embed'\); deleted"):
        pp.published_dir(NAME)
    assert _cache_files(tmp_path) == []


def test_unreachable_host_says_how_to_load_a_directory(site, tmp_path, monkeypatch):
    port = local_http.closed_port()
    monkeypatch.setenv(pp.BASE_URL_ENV, f"http://127.0.0.1:{port}/elmo")
    url = pp.file_url(pp.PUBLISHED[NAME]["files"][pp.OPTIONS_FILE]["url"])
    assert url.startswith(f"http://127.0.0.1:{port}/elmo/2x1024_128_2048cnn_1xhighway/")
    with pytest.raises(downloads.DownloadError) as info:
        pp.published_dir(NAME)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{url}: download failed: ")
    assert 'ELMo.from_preset("/path/to/dir")' in message
    assert not any(f.endswith(("options.json", ".part")) for f in _cache_files(tmp_path))


def test_bad_names_and_sizes(site, tmp_path, monkeypatch):
    with pytest.raises(ek.PresetError, match="'elmo_allennlp_tiny_en': not a published preset"):
        pp.published_dir("elmo_allennlp_tiny_en")
    url = f"http://127.0.0.1:{site.server_port}{_url_path(pp.OPTIONS_FILE)}"
    body, _ = site.routes[_url_path(pp.OPTIONS_FILE)]
    with pytest.raises(downloads.DownloadError,
                       match=rf"^{url}: the server offers {len(body)} bytes, expected 3$"):
        downloads.fetch(url, "sub", size=3)
    with pytest.raises(downloads.DownloadError, match=r"more than the bound of 10 bytes"):
        downloads.fetch(url, "sub", max_bytes=10)
    assert _cache_files(tmp_path) == []
    assert downloads.fetch(url, "sub", size=len(body)) == str(tmp_path / "keras" / "sub" /
                                                                os.path.basename(url))
    monkeypatch.setenv(pp.BASE_URL_ENV, "ftp://mirror")
    with pytest.raises(ek.PresetError, match=r"ELMO_KERAS_PRESET_BASE_URL='ftp://mirror': not "
                                             r"an http:// or https:// URL"):
        pp.published_dir(NAME)


def test_every_entry_point_resolves_the_name_the_same_way(site, tiny_files, tmp_path):
    """`elmo-keras embed --model NAME`, `ELMoTextClassifier.from_preset(NAME)` and
    `ELMo.presets` go through the one resolver (`elmo_presets`): the model served under
    NAME's file names, downloaded once."""
    from tests.support.processes import cli

    (tmp_path / "in.txt").write_text("The river bank .\nHi\n")
    result = cli("embed", tmp_path / "in.txt", tmp_path / "out.hdf5", "--model", NAME)
    assert result.returncode == 0, result.stderr[-2000:]
    expected = ek.load_bilm(*tiny_files)
    with h5py.File(tmp_path / "out.hdf5") as f:
        layers = f["0"][...]
    want = np.asarray(expected(IDS)["lm_embeddings"])[0]
    np.testing.assert_allclose(layers, want, atol=1e-5)
    assert len(site.requests) == 2
    classifier = ek.ELMoTextClassifier.from_preset(NAME, num_classes=2)
    assert classifier.predict(np.array(["the river bank"], dtype=object),
                              verbose=0).shape == (1, 2)
    assert len(site.requests) == 2  # the cache, no second download
    listing = ek.ELMo.presets
    assert listing[NAME]["bundled"] is False and listing["elmo_small_en"]["bundled"] is True
