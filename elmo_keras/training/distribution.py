"""Training on one device, several local devices or several hosts (`tf.distribute`).

- `get_strategy`: the strategy from its name; `n_workers`, `is_chief`, `worker_id`
  read the `TF_CONFIG` cluster of a multi-worker run.
- `distributed_dataset`: the run's deterministic batch stream (`corpus.training_batches`),
  split over input pipelines (hosts) and replicas (local devices).
- `CarriedStates`: the LSTM states carried from batch to batch, as checkpointed
  variables and as per-replica values.
"""

import os

import tensorflow as tf

from elmo_keras.training.corpus import training_batches
from elmo_keras.training.errors import TrainingError

STRATEGIES = ("default", "mirrored", "multiworker")


def get_strategy(strategy=None):
    """A `tf.distribute.Strategy` from a name: `default` (one device), `mirrored` (all
    local GPUs, or CPU), `multiworker` (hosts listed in `TF_CONFIG`)."""
    if isinstance(strategy, tf.distribute.Strategy):
        return strategy
    if strategy in (None, "default"):
        return tf.distribute.get_strategy()
    if strategy == "mirrored":
        return tf.distribute.MirroredStrategy()
    if strategy == "multiworker":
        if "TF_CONFIG" not in os.environ:
            raise TrainingError("--strategy multiworker needs TF_CONFIG (see docs/training.md)")
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise TrainingError(f"unknown strategy {strategy!r}; expected one of {STRATEGIES}")


def _cluster(strategy):
    """The `TF_CONFIG` cluster of a multi-worker strategy as `(resolver, spec)`, or None."""
    resolver = getattr(strategy, "cluster_resolver", None)
    spec = resolver.cluster_spec().as_dict() if resolver is not None else {}
    return (resolver, spec) if spec else None


def n_workers(strategy):
    """Hosts (input pipelines) of the run: 1 without a cluster."""
    cluster = _cluster(strategy)
    if cluster is None:
        return 1
    return sum(len(cluster[1].get(kind, [])) for kind in ("chief", "worker"))


def is_chief(strategy):
    """The chief (or worker 0 of a cluster without one) writes the run directory."""
    cluster = _cluster(strategy)
    if cluster is None:
        return True
    resolver, spec = cluster
    if "chief" in spec:
        return resolver.task_type == "chief"
    return resolver.task_type == "worker" and resolver.task_id == 0


def worker_id(strategy):
    """This host's task id in the cluster (0 without one)."""
    cluster = _cluster(strategy)
    return 0 if cluster is None else cluster[0].task_id


def batch_signature(rows, opts):
    """The `tf.TensorSpec`s of a `StreamBatcher` batch of `rows` rows."""
    t, c = opts.unroll_steps, opts.batch_arguments()["max_characters_per_token"]
    sig = {"token_ids": tf.TensorSpec((rows, 2, t), tf.int32),
           "targets": tf.TensorSpec((rows, 2, t), tf.int32),
           "weights": tf.TensorSpec((rows, 2, t), tf.float32)}
    if opts.model.char_inputs:
        sig["char_ids"] = tf.TensorSpec((rows, 2, t, c), tf.int32)
    return sig


def distributed_dataset(strategy, files, vocab, opts, start_step):
    """The run's batches as a distributed dataset: each input pipeline (host) streams
    its shard of the sentences in `batch_size / hosts` rows, and each local replica
    gets a contiguous block of those rows."""
    n_replicas = strategy.num_replicas_in_sync
    if opts.batch_size % n_replicas:
        raise TrainingError(
            f"batch_size={opts.batch_size} does not split over {n_replicas} replicas")

    def dataset_fn(ctx):
        n_pipes = ctx.num_input_pipelines
        rows = opts.batch_size // n_pipes
        n_local = n_replicas // n_pipes
        ds = tf.data.Dataset.from_generator(
            lambda: training_batches(files, vocab, opts, rows, start_step,
                                     ctx.input_pipeline_id, n_pipes),
            output_signature=batch_signature(rows, opts))
        if n_local > 1:
            # Consecutive elements go to the local replicas in turn: split each batch
            # into row blocks so replica r gets rows [r * rows/n, (r + 1) * rows/n).
            ds = ds.flat_map(lambda b: tf.data.Dataset.from_tensor_slices(
                {k: tf.reshape(v, [n_local, rows // n_local] + v.shape[1:].as_list())
                 for k, v in b.items()}))
        return ds.prefetch(4)

    options = tf.distribute.InputOptions(experimental_fetch_to_device=True)
    return strategy.distribute_datasets_from_function(dataset_fn, options)


class CarriedStates:
    """This host's LSTM states `(h, c)` (`BiLM.zero_states` layout, rows on axis 2),
    kept in variables for the checkpoint and handed to the local replicas by row block.

    Args:
        strategy: the run's strategy.
        zero_states: `(h, c)` zeros for this host's rows.
    """

    def __init__(self, strategy, zero_states):
        self.strategy = strategy
        self.n_local = strategy.num_replicas_in_sync // n_workers(strategy)
        self.h = tf.Variable(zero_states[0], trainable=False, name="state_h")
        self.c = tf.Variable(zero_states[1], trainable=False, name="state_c")

    def distribute(self):
        """The states as per-replica values (replica r: its block of rows)."""
        hs = tf.split(self.h, self.n_local, axis=2)
        cs = tf.split(self.c, self.n_local, axis=2)
        n = self.n_local
        return self.strategy.experimental_distribute_values_from_function(
            lambda ctx: (hs[ctx.replica_id_in_sync_group % n],
                         cs[ctx.replica_id_in_sync_group % n]))

    def gather(self, states):
        """Stores per-replica states (a step's output) in the variables."""
        local = self.strategy.experimental_local_results(states)
        self.h.assign(tf.concat([s[0] for s in local], axis=2))
        self.c.assign(tf.concat([s[1] for s in local], axis=2))
