"""Files read at once (`interleave_files`): every stretch of a shuffled pass mixes the
corpus' sources, each in proportion to its size; `1` is the stream of older runs."""

import json
import random

import pytest

from elmo_keras.training.corpus import iter_sentences
from elmo_keras.training.errors import TrainingError
from elmo_keras.training.run_directory import _saved_options, resumed_options
from elmo_keras.training.training_options import TrainingOptions


def _corpus(tmp_path, sizes):
    files = []
    for name, n in sizes.items():
        p = tmp_path / f"{name}.txt"
        p.write_text("".join(f"{name} {i}\n" for i in range(n)), encoding="utf-8")
        files.append(str(p))
    return files


def test_every_stretch_of_a_pass_mixes_the_files_in_proportion(tmp_path):
    files = _corpus(tmp_path, {"a": 3000, "b": 1000, "c": 300})
    stream = [s[0] for s in iter_sentences(files, shuffle=True, seed=1, shuffle_buffer=50,
                                           interleave=64)]
    assert sorted(stream) == sorted(["a"] * 3000 + ["b"] * 1000 + ["c"] * 300)
    for start in range(0, 4300, 1075):  # each quarter holds about a quarter of each file
        part = stream[start:start + 1075]
        for name, n in (("a", 3000), ("b", 1000), ("c", 300)):
            assert 0.15 < part.count(name) / n < 0.35, (start, name)
    # one file after another: the quarters are not mixed (the old stream)
    one = [s[0] for s in iter_sentences(files, shuffle=True, seed=1, shuffle_buffer=50,
                                        interleave=1)]
    assert max(one[:1075].count(n) for n in "abc") > 0.9 * 1075


def test_interleaving_is_reproducible_and_shards_partition_it(tmp_path):
    files = _corpus(tmp_path, {"a": 500, "b": 200, "c": 90})
    kwargs = dict(shuffle=True, seed=3, epoch=2, shuffle_buffer=40, interleave=2)
    full = [tuple(s) for s in iter_sentences(files, **kwargs)]
    assert full == [tuple(s) for s in iter_sentences(files, **kwargs)]
    assert full != [tuple(s) for s in iter_sentences(files, **dict(kwargs, epoch=3))]
    shards = [[tuple(s) for s in iter_sentences(files, shard_index=i, num_shards=3, **kwargs)]
              for i in range(3)]
    assert sorted(sum(shards, [])) == sorted(full)
    assert len(set(full)) == len(full) == 790


def test_one_file_at_a_time_is_the_stream_runs_had_before_the_option(tmp_path):
    """interleave=1: shuffled file order, then a buffer shuffle, from the (seed, epoch)
    generator alone (written out here as the earlier code drew it)."""
    files = _corpus(tmp_path, {"a": 120, "b": 80, "c": 40})
    rng = random.Random("5:1")
    order = list(files)
    rng.shuffle(order)
    lines = [line.split() for f in order for line in open(f, encoding="utf-8")]
    buffer, expected = [], []
    for tokens in lines:
        if len(buffer) < 30:
            buffer.append(tokens)
            continue
        i = rng.randrange(len(buffer))
        expected.append(buffer[i])
        buffer[i] = tokens
    rng.shuffle(buffer)
    expected += buffer
    assert list(iter_sentences(files, shuffle=True, seed=5, epoch=1, shuffle_buffer=30,
                               interleave=1)) == expected


def test_the_option_defaults_to_interleaving_and_older_runs_keep_their_stream(tmp_path):
    options = {"lstm": {"dim": 8, "projection_dim": 4, "n_layers": 1, "cell_clip": 3,
                        "proj_clip": 3, "use_skip_connections": True},
               "n_tokens_vocab": 10}
    assert TrainingOptions.from_dict(options).interleave_files == 64
    with pytest.raises(ValueError, match="interleave_files must be >= 1"):
        TrainingOptions.from_dict(dict(options, interleave_files=0))
    old = tmp_path / "train_options.json"  # written by a run before the key existed
    old.write_text(json.dumps(options))
    assert _saved_options(old).interleave_files == 1
    new = tmp_path / "new_options.json"
    new.write_text(json.dumps(TrainingOptions.from_dict(options).to_dict()))
    assert _saved_options(new).interleave_files == 64


def test_an_older_runs_own_options_file_resumes_it_and_may_change_resumable_keys(tmp_path):
    """A file without `interleave_files` (the run's own, from before the key) resumes the
    run as it was read; a key it leaves out keeps the run's value, one it states changes."""
    options = {"lstm": {"dim": 8, "projection_dim": 4, "n_layers": 1, "cell_clip": 3,
                        "proj_clip": 3, "use_skip_connections": True},
               "n_tokens_vocab": 10, "learning_rate": 0.2}
    old = tmp_path / "train_options.json"
    old.write_text(json.dumps(options))
    saved = _saved_options(old)
    new, changes = resumed_options(tmp_path, saved, str(old))
    assert new.interleave_files == 1 and changes == {}
    new, changes = resumed_options(tmp_path, saved, dict(options, learning_rate=0.1))
    assert new.interleave_files == 1 and changes == {"learning_rate": [0.2, 0.1]}
    with pytest.raises(TrainingError, match=r"interleave_files \(1 -> 64\)"):
        resumed_options(tmp_path, saved, dict(options, interleave_files=64))
