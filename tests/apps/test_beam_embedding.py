"""`elmo-keras embed-beam`: the Beam pipeline gives `elmo-keras embed`'s numbers exactly,
whatever the runner, the workers, the sharding, a retried bundle or a failed run.

The DirectRunner's portable mode (FnApiRunner, used for multi_processing) never
retries a bundle: a failure there fails the run, tested as such. Bundle retries are
tested on the BundleBasedDirectRunner, the DirectRunner that retries a failed bundle
(up to 4 attempts), as Dataflow retries work items.
"""

import json
import os

import h5py
import numpy as np
import pytest

beam = pytest.importorskip("apache_beam", reason="apache-beam is not installed "
                           "(pip install 'elmo-keras[beam]', part of the test extra)")

from elmo_keras.apps import beam_embedding as be  # noqa: E402
from elmo_keras.apps.cli import main  # noqa: E402
from tests.conftest import TINY  # noqa: E402

MODEL = ["--options", str(TINY / "options.json"), "--weights", str(TINY / "lm_weights.hdf5")]
WORK = ["--batch-size", "4", "--chunk-lines", "7"]  # 2-3 chunks a file, 2 batches a chunk


def _handler(cls=be.ElmoModelHandler):
    return cls(options=str(TINY / "options.json"), weights=str(TINY / "lm_weights.hdf5"),
               batch_size=4)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Two files (an empty line, a repeated line) and `elmo-keras embed`'s file of each."""
    folder = tmp_path_factory.mktemp("beam")
    lines = [s for group in json.loads((TINY / "sentences.json").read_text()) for s in group]
    texts = {"a.txt": lines[:16] + ["", lines[3]] + lines[16:19],
             "b.txt": ["The bank of the river ."] + lines[19:30]}
    reference = {}
    for name, text in texts.items():
        (folder / "in").mkdir(exist_ok=True)
        path = folder / "in" / name
        path.write_text("\n".join(text) + "\n", encoding="utf-8")
        reference[str(path)] = folder / f"{name}.embed.hdf5"
        assert main(["embed", str(path), str(reference[str(path)]), *WORK, *MODEL]) == 0
    return folder, str(folder / "in" / "*.txt"), reference


@pytest.fixture(scope="module")
def two_workers(corpus):
    """The pipeline on the DirectRunner, multi_processing, 2 workers, 3 shards.

    Slow (about 20 s of CPU): each worker process imports TensorFlow and builds the
    model."""
    folder, glob, _ = corpus
    prefix = str(folder / "mp" / "emb")
    shards = be.embed_corpus(glob, prefix, handler=_handler(), chunk_lines=7, num_shards=3,
                             pipeline_args=["--direct_running_mode=multi_processing",
                                            "--direct_num_workers=2"])
    return prefix, shards


def _assert_same_file(got, expected):
    """Two HDF5 files hold the same datasets: names, dtypes, shapes, bytes."""
    with h5py.File(got, "r") as a, h5py.File(expected, "r") as b:
        assert sorted(a) == sorted(b)
        assert a["sentence_to_index"][0] == b["sentence_to_index"][0]
        for key in b:
            assert a[key].dtype == b[key].dtype and a[key].shape == b[key].shape, key
            if key != "sentence_to_index":
                np.testing.assert_array_equal(a[key][...], b[key][...], err_msg=key)


def _rows(prefix):
    """The rows of a run by (path, line); fails on a row seen twice."""
    rows = {}
    for path, line, text, array in be.read_embeddings(prefix):
        assert (path, line) not in rows, f"{path}:{line} twice"
        rows[path, line] = (text, array.dtype, array.shape, array.tobytes())
    return rows


@pytest.mark.slow
def test_two_worker_processes_give_embeds_file_exactly(corpus, two_workers, tmp_path):
    _, _, reference = corpus
    prefix, shards = two_workers
    assert [os.path.basename(s) for s in shards] == [
        f"emb-0000{k}-of-00003.parquet" for k in range(3)]
    assert be.input_paths(prefix) == sorted(reference)
    for k, (path, expected) in enumerate(sorted(reference.items())):
        out = tmp_path / f"{k}.hdf5"
        n = be.to_hdf5(prefix, out, input_path=path)
        assert n == len(open(path, encoding="utf-8").read().splitlines())
        _assert_same_file(out, expected)  # exact: the same batches as embed's
    with pytest.raises(be.BeamEmbeddingError, match="holds 2 input files"):
        be.to_hdf5(prefix, tmp_path / "x.hdf5")


class _FailsOnce(be.ElmoModelHandler):
    """Raises in its second batch, once (a marker file remembers it): the runner
    retries that bundle, whose first batch was embedded already."""

    marker = None
    calls = 0

    def run_inference(self, batch, model, inference_args=None):
        type(self).calls += 1
        if type(self).calls == 2 and not os.path.exists(self.marker):
            open(self.marker, "w").close()
            raise RuntimeError("a bundle fails on purpose")
        return super().run_inference(batch, model, inference_args)


@pytest.mark.slow
def test_retried_bundle_other_runner_and_one_shard_give_the_same_rows(
        corpus, two_workers, tmp_path):
    _, glob, reference = corpus
    _FailsOnce.marker, _FailsOnce.calls = str(tmp_path / "failed"), 0
    prefix = str(tmp_path / "out" / "emb")
    shards = be.embed_corpus(glob, prefix, handler=_handler(_FailsOnce), chunk_lines=7,
                             num_shards=1, pipeline_args=["--runner=BundleBasedDirectRunner"])
    assert os.path.exists(_FailsOnce.marker)
    batches = 3 * 2 + 2 * 2  # chunks of 7, 7, 7 (a.txt) and 7, 5 lines (b.txt); 4 a batch
    assert _FailsOnce.calls > batches  # the failed bundle ran again
    # No partial or temporary file is left: the one shard only.
    assert sorted(os.listdir(tmp_path / "out")) == ["emb-00000-of-00001.parquet"]
    assert len(shards) == 1
    rows = _rows(prefix)
    assert len(rows) == sum(len(open(p, encoding="utf-8").read().splitlines())
                            for p in reference)
    assert rows == _rows(two_workers[0])  # 1 shard here, 3 there: identical rows


def test_failed_run_leaves_no_shard_and_the_command_reruns(corpus, tmp_path, capsys):
    folder, _, reference = corpus
    path = str(folder / "in" / "a.txt")
    prefix = str(tmp_path / "emb")

    class FailsFirst(be.ElmoModelHandler):
        def run_inference(self, batch, model, inference_args=None):
            raise RuntimeError("a bundle fails on purpose")

    with pytest.raises(Exception, match="fails on purpose"):  # no retry on this runner
        be.embed_corpus(path, prefix, handler=_handler(FailsFirst), chunk_lines=7)
    with pytest.raises(be.BeamEmbeddingError, match="no shard"):
        be.shard_paths(prefix)

    assert main(["embed-beam", path, prefix, *WORK, *MODEL, "--num-shards", "2"]) == 0
    assert "wrote 2 shard(s)" in capsys.readouterr().err
    be.to_hdf5(prefix, tmp_path / "a.hdf5")
    _assert_same_file(tmp_path / "a.hdf5", reference[path])

    assert main(["embed-beam", path, prefix, *MODEL]) == 2
    assert "shards of an earlier run exist" in capsys.readouterr().err
    assert main(["embed-beam", str(tmp_path / "none*.txt"), prefix, *MODEL]) == 2
    assert "matches no file" in capsys.readouterr().err
    os.remove(prefix + "-00001-of-00002.parquet")
    with pytest.raises(be.BeamEmbeddingError, match="1 of 2 shards missing"):
        be.to_hdf5(prefix, tmp_path / "b.hdf5")
    assert not (tmp_path / "b.hdf5").exists()
