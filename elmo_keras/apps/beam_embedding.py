"""Embedding a corpus on Apache Beam: `elmo-keras embed-beam` (needs `elmo-keras[beam]`).

The pipeline:

```
MatchFiles(INPUT_GLOB) -> ReadMatches -> chunks of `chunk_lines` lines, numbered
  -> Reshuffle -> batches (each chunk's sentences sorted by length, `batch_size` a batch)
  -> RunInference(ElmoModelHandler) -> Parquet shards OUTPUT_PREFIX-SSSSS-of-NNNNN.parquet
```

Every sentence is keyed by a stable id, its file and 0-based line number. The batches
are made from the data alone: a chunk is lines `[k * chunk_lines, (k + 1) * chunk_lines)`
of one file, and its batches are `elmo-keras embed`'s (sorted by token count, then line
number). So each sentence meets the same batch whatever the runner, the number of
workers or shards, or the order in which bundles run, and the numbers are those of
`elmo-keras embed --chunk-lines C --batch-size B` on the same file.

A shard row is `path`, `line`, `text`, `dtype`, `shape` and `embedding` (the array's
bytes, C order). The shards are written by Beam's file sink: each bundle writes a
temporary file, and only the bundles that committed are renamed into place, once, when
the write finalizes; so a retried bundle leaves neither a duplicate row nor a partial
shard. `to_hdf5` gives back `embed`'s file for one input (the same datasets, shapes,
dtypes and `sentence_to_index`); `read_embeddings` iterates over the rows.

Apache Beam is imported here only: the rest of the package does not need it.
"""

import json
import re

import apache_beam as beam
import numpy as np
from apache_beam.io import fileio
from apache_beam.io.filesystems import FileSystems
from apache_beam.ml.inference.base import KeyedModelHandler, ModelHandler, \
    PredictionResult, RunInference
from apache_beam.options.pipeline_options import PipelineOptions

from elmo_keras.apps.embedding_file import OUTPUT_FORMATS, format_layers
from elmo_keras.io.text_lines import read_lines

SUFFIX = ".parquet"
_SHARD = re.compile(r"-(\d{5,})-of-(\d{5,})" + re.escape(SUFFIX) + "$")
#: Token-count boundaries of the length buckets `batch_elements_kwargs` gives Beam's
#: `BatchElements` (used when the handler gets single sentences and
#: `max_batch_duration_secs` is set).
LENGTH_BUCKETS = (8, 16, 32, 64, 128)


class BeamEmbeddingError(ValueError):
    """A Beam embedding run cannot start (its output exists), or its shards are not one
    complete run (a shard missing, a line twice or missing)."""


def _tokens(sentence):
    return sentence.split() if isinstance(sentence, str) else list(sentence)


def _n_tokens(element):
    """The token count of a sentence, or of a keyed `(key, sentence)` pair's sentence
    (`BatchElements` sees the pairs when a `KeyedModelHandler` wraps the handler)."""
    if isinstance(element, tuple) and len(element) == 2:
        element = element[1]
    return len(_tokens(element))


class ElmoModelHandler(ModelHandler):
    """A RunInference `ModelHandler` that embeds sentences with an ELMo model.

    Each worker loads the model once (`load_model`: RunInference keeps it for the
    process) and runs it through `Embedder`, the path `elmo-keras embed` takes (its
    char-CNN cache too, with `vocab`). An example is a sentence: a string (split at
    whitespace, as `embed` reads a line) or a list (not a tuple) of tokens. Its
    inference is a float32 array: `[L + 1, n_tokens, 2P]` for `output_format="all"`,
    `[n_tokens, 2P]` for "top" and "average".

    A batch is embedded in sub-batches of `batch_size` sentences of similar length (a
    stable sort by token count). Given single sentences, RunInference batches them with
    `batch_elements_kwargs`: at most `batch_size` a batch, and with
    `max_batch_duration_secs` set, in length buckets (`LENGTH_BUCKETS` tokens). Wrap it
    in `KeyedModelHandler` to carry ids; `embed_corpus` gives it ready-made batches.

    Args:
        model: a preset (a registered name such as "elmo_small_en", or a directory that
            every worker can read), as `elmo-keras embed --model` takes.
        options: bilm-tf options.json (with `weights`, instead of `model`).
        weights: bilm-tf weights.hdf5.
        batch_size: sentences a model call.
        output_format: "all", "top" or "average".
        vocab: optional tokens whose char-CNN vectors are computed once (see `Embedder`).
        jit_compile: compile the model with XLA (see `Embedder`).
        max_batch_duration_secs: passed to Beam's `BatchElements` (its stateful,
            length-bucketed batching).

    Examples:
    ```python
    import apache_beam as beam
    from apache_beam.ml.inference.base import KeyedModelHandler, RunInference

    with beam.Pipeline() as p:
        _ = (p | beam.Create([("a", "The bank ."), ("b", "Hi")])
               | RunInference(KeyedModelHandler(ElmoModelHandler("elmo_small_en")))
               | beam.Map(lambda kv: (kv[0], kv[1].inference.shape)))
    ```
    """

    def __init__(self, model=None, options=None, weights=None, batch_size=64,
                 output_format="all", vocab=None, jit_compile=False,
                 max_batch_duration_secs=None):
        if output_format not in OUTPUT_FORMATS:
            raise ValueError(f"output_format must be one of {OUTPUT_FORMATS}, "
                             f"got {output_format!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        super().__init__(max_batch_size=batch_size,
                         max_batch_duration_secs=max_batch_duration_secs,
                         batch_length_fn=_n_tokens,
                         batch_bucket_boundaries=list(LENGTH_BUCKETS))
        self.model, self.options, self.weights = model, options, weights
        self.batch_size = int(batch_size)
        self.output_format = output_format
        self.vocab = None if vocab is None else list(vocab)
        self.jit_compile = bool(jit_compile)

    def load_model(self):
        """The worker's `Embedder` (called once a process by RunInference)."""
        from elmo_keras.models.elmo.elmo_backbone import ELMo
        from elmo_keras.models.elmo.elmo_embedder import Embedder
        from elmo_keras.models.elmo.elmo_preset_loader import resolve_model

        model = resolve_model(ELMo, self.model, self.options, self.weights,
                              max_batch_size=self.batch_size)
        return Embedder(model, vocab=self.vocab, jit_compile=self.jit_compile)

    def run_inference(self, batch, model, inference_args=None):
        """Embeds `batch` (sentences) with `model` (an `Embedder`); one
        `PredictionResult` a sentence, in the order of `batch`."""
        sentences = [_tokens(s) for s in batch]
        layers = dict(model.embed_all(sentences, self.batch_size, sort_by_length=True))
        return [PredictionResult(s, format_layers(layers[i], self.output_format))
                for i, s in enumerate(batch)]

    def get_num_bytes(self, batch):
        return sum(len(s.encode()) if isinstance(s, str) else sum(map(len, s))
                   for s in batch)

    def get_metrics_namespace(self):
        return "elmo_keras"


class _ReadChunks(beam.DoFn):
    """A matched file -> `((path, k), [(line, text), ...])` for its chunks of
    `chunk_lines` lines (line numbers from 0, as `embed` names its datasets)."""

    def __init__(self, chunk_lines):
        self.chunk_lines = chunk_lines

    def process(self, readable):
        path = readable.metadata.path
        chunk = []
        with readable.open() as f:
            for line, text in enumerate(read_lines(f, path)):
                chunk.append((line, text))
                if len(chunk) == self.chunk_lines:
                    yield (path, line // self.chunk_lines), chunk
                    chunk = []
        if chunk:
            yield (path, chunk[0][0] // self.chunk_lines), chunk


def _batches(chunk, batch_size):
    """`embed`'s batches of a chunk: sorted by token count, then line; each a list of
    `((path, line), text)`."""
    (path, _), lines = chunk
    lines = sorted(lines, key=lambda lt: (len(lt[1].split()), lt[0]))
    for start in range(0, len(lines), batch_size):
        yield [((path, line), text) for line, text in lines[start:start + batch_size]]


def _record(keyed):
    (path, line), result = keyed
    array = np.ascontiguousarray(result.inference)
    return {"path": path, "line": line, "text": result.example, "dtype": array.dtype.str,
            "shape": list(array.shape), "embedding": array.tobytes()}


def _schema():
    import pyarrow as pa

    return pa.schema([("path", pa.string()), ("line", pa.int64()), ("text", pa.string()),
                      ("dtype", pa.string()), ("shape", pa.list_(pa.int64())),
                      ("embedding", pa.binary())])


class EmbedCorpus(beam.PTransform):
    """Embeds the lines of every file matching a glob; the output: a PCollection of
    shard rows (`path`, `line`, `text`, `dtype`, `shape`, `embedding` bytes).

    Args:
        input_glob: a file pattern any Beam file system reads (a local glob, gs://...).
        handler: an `ElmoModelHandler`.
        chunk_lines: lines a chunk (the unit of work; batches never cross chunks).

    Examples:
    ```python
    rows = p | EmbedCorpus("corpus/*.txt", ElmoModelHandler("elmo_small_en"))
    ```
    """

    def __init__(self, input_glob, handler, chunk_lines=10_000):
        super().__init__()
        if chunk_lines < 1:
            raise ValueError(f"chunk_lines must be >= 1, got {chunk_lines}")
        self.input_glob, self.handler, self.chunk_lines = input_glob, handler, chunk_lines

    def expand(self, pbegin):
        return (pbegin
                | "Match" >> fileio.MatchFiles(self.input_glob,
                                               fileio.EmptyMatchTreatment.DISALLOW)
                | "Open" >> fileio.ReadMatches()
                | "Chunks" >> beam.ParDo(_ReadChunks(self.chunk_lines))
                | "Spread" >> beam.Reshuffle()
                | "Batches" >> beam.FlatMap(_batches, self.handler.batch_size)
                | "Embed" >> RunInference(KeyedModelHandler(self.handler).with_no_batching())
                | "Rows" >> beam.Map(_record))


def shard_paths(output_prefix):
    """The Parquet shards of the run at `output_prefix`, in shard order.

    Raises:
        BeamEmbeddingError: no shard, shards of two runs (two shard counts), or a
            shard missing.
    """
    found = {}
    for match in FileSystems.match([f"{output_prefix}-*-of-*{SUFFIX}"])[0].metadata_list:
        m = _SHARD.search(match.path)
        if m and match.path[:m.start()] == output_prefix:
            found[(int(m.group(2)), int(m.group(1)))] = match.path
    counts = {n for n, _ in found}
    if not found:
        raise BeamEmbeddingError(f"{output_prefix}: no shard {output_prefix}-SSSSS-of-NNNNN"
                                 f"{SUFFIX}")
    if len(counts) > 1:
        raise BeamEmbeddingError(f"{output_prefix}: shards of several runs "
                                 f"({', '.join(map(str, sorted(counts)))} shards); "
                                 "remove the older ones")
    (n,) = counts
    missing = [k for k in range(n) if (n, k) not in found]
    if missing:
        raise BeamEmbeddingError(f"{output_prefix}: {len(missing)} of {n} shards missing "
                                 f"(shard {missing[0]} first): not a complete run")
    return [found[(n, k)] for k in range(n)]


def embed_corpus(input_glob, output_prefix, model=None, options=None, weights=None,
                 batch_size=64, chunk_lines=10_000, output_format="all", vocab=None,
                 jit_compile=False, num_shards=0, pipeline_args=(), handler=None):
    """Runs the Beam pipeline that embeds every line of the files matching `input_glob`.

    Writes `OUTPUT_PREFIX-SSSSS-of-NNNNN.parquet` (see the module docstring); the
    runner and its options come from `pipeline_args` (Beam's flags: `--runner`,
    `--direct_num_workers`, `--project`, ...). The numbers are those of `embed_file`
    with the same `batch_size` and `chunk_lines`.

    Args:
        input_glob: the input files (a glob of any Beam file system).
        output_prefix: where the shards go (a local path or gs://...).
        model, options, weights, batch_size, output_format, vocab, jit_compile: see
            `ElmoModelHandler`.
        chunk_lines: lines a chunk (`embed --chunk-lines`).
        num_shards: output files; 0 lets the runner choose.
        pipeline_args: Beam pipeline flags.
        handler: an `ElmoModelHandler` to use instead of one made from the arguments.

    Returns:
        The shard paths.

    Raises:
        BeamEmbeddingError: `input_glob` matches no file, or shards at `output_prefix`
            exist already.

    Examples:
    ```python
    embed_corpus("corpus/*.txt", "out/emb", model="elmo_small_en", num_shards=4,
                 pipeline_args=["--direct_running_mode=multi_processing",
                                "--direct_num_workers=2"])
    to_hdf5("out/emb", "corpus/a.txt.hdf5", input_path="corpus/a.txt")
    ```
    """
    if num_shards < 0:
        raise ValueError(f"num_shards must be >= 0, got {num_shards}")
    if not FileSystems.match([input_glob])[0].metadata_list:
        raise BeamEmbeddingError(f"{input_glob}: matches no file")
    existing = FileSystems.match([f"{output_prefix}-*-of-*{SUFFIX}"])[0].metadata_list
    if existing:
        raise BeamEmbeddingError(
            f"{output_prefix}: shards of an earlier run exist ({existing[0].path}); "
            "remove them or choose another output prefix")
    if handler is None:
        handler = ElmoModelHandler(model, options, weights, batch_size=batch_size,
                                   output_format=output_format, vocab=vocab,
                                   jit_compile=jit_compile)
    with beam.Pipeline(options=PipelineOptions(list(pipeline_args))) as p:
        _ = (p
             | "EmbedCorpus" >> EmbedCorpus(input_glob, handler, chunk_lines)
             | "Write" >> beam.io.WriteToParquet(output_prefix, _schema(),
                                                 num_shards=num_shards,
                                                 file_name_suffix=SUFFIX))
    return shard_paths(output_prefix)


def read_embeddings(output_prefix, input_path=None):
    """The rows of a run's shards, shard by shard (not in line order).

    Args:
        output_prefix: the run's output prefix.
        input_path: only this input file's rows (its path as the run matched it).

    Yields:
        `(path, line, text, array)`.
    """
    import pyarrow.parquet as pq

    for shard in shard_paths(output_prefix):
        with FileSystems.open(shard, compression_type="uncompressed") as f:
            for batch in pq.ParquetFile(f).iter_batches(batch_size=256):  # a few rows at
                for row in batch.to_pylist():                             # a time
                    if input_path is not None and row["path"] != input_path:
                        continue
                    array = np.frombuffer(row["embedding"], np.dtype(row["dtype"]))
                    yield (row["path"], row["line"], row["text"],
                           array.reshape(row["shape"]).copy())


def input_paths(output_prefix):
    """The input files of a run, as it matched them, sorted."""
    import pyarrow.parquet as pq

    paths = set()
    for shard in shard_paths(output_prefix):
        with FileSystems.open(shard, compression_type="uncompressed") as f:
            paths.update(pq.read_table(f, columns=["path"]).column("path").to_pylist())
    return sorted(paths)


def to_hdf5(output_prefix, output_path, input_path=None):
    """Writes one input file's embeddings as `elmo-keras embed` does: one dataset a
    line, named by its 0-based number, and `sentence_to_index` (each line's text to the
    number of its first occurrence, as a JSON string).

    Args:
        output_prefix: the run's output prefix.
        output_path: the HDF5 file to write (whole or not at all).
        input_path: the input file, as the run matched it; may be left out when the
            run read one file.

    Returns:
        The number of lines.

    Raises:
        BeamEmbeddingError: the shards are not one complete run, `input_path` is not
            one of its inputs, or a line is missing or twice.

    Examples:
    ```python
    to_hdf5("out/emb", "a.hdf5", input_path="/data/corpus/a.txt")
    ```
    """
    import h5py

    from elmo_keras.io.paths import atomic_output

    paths = input_paths(output_prefix)
    if input_path is None:
        if len(paths) != 1:
            raise BeamEmbeddingError(f"{output_prefix}: holds {len(paths)} input files; "
                                     f"name one ({', '.join(paths[:3])} ...)")
        (input_path,) = paths
    elif input_path not in paths:
        raise BeamEmbeddingError(f"{output_prefix}: has no input {input_path} "
                                 f"(it has {', '.join(paths[:3])}{' ...' * (len(paths) > 3)})")
    texts = {}
    with atomic_output(output_path) as tmp:
        with h5py.File(tmp, "w") as out:
            for _, line, text, array in read_embeddings(output_prefix, input_path):
                if line in texts:
                    raise BeamEmbeddingError(f"{output_prefix}: line {line} of {input_path} "
                                             "is in the shards twice")
                texts[line] = text
                out.create_dataset(str(line), data=array)
            missing = next((i for i in range(len(texts)) if i not in texts), None)
            if missing is not None:
                raise BeamEmbeddingError(f"{output_prefix}: line {missing} of {input_path} "
                                         "is missing")
            index = {}
            for line in range(len(texts)):
                index.setdefault(texts[line], str(line))
            out.create_dataset("sentence_to_index", data=np.array([json.dumps(index)],
                                                                   dtype=object),
                               dtype=h5py.string_dtype())
    return len(texts)

