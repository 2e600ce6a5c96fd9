"""`elmo_keras.layers.kernels`: the layers reach their backend's kernels from inside
traced functions without TensorFlow's AutoGraph trying to convert the import."""

from tests.support.processes import run_python

EMBED = """
import elmo_keras
model = elmo_keras.ELMo(filters=[[1, 4], [2, 8]], char_embedding_dim=4, lstm_dim=16,
                        projection_dim=8, n_highway=1, n_layers=2)
print(elmo_keras.Embedder(model)([["The", "bank"], ["Hi"]])[0].shape)
"""


def test_traced_layers_look_up_their_kernels_without_autograph_warnings():
    """`Embedder` traces the char CNN and biLM in a `tf.function`: every `kernels()`
    call there is a lookup. An `importlib` call inside it made AutoGraph warn "could
    not transform <function _gcd_import>" to every user (a fresh process: AutoGraph
    warns once per process)."""
    result = run_python(EMBED, fresh=True)
    assert result.stdout.strip().endswith("(3, 2, 16)"), result.stdout
    assert "AutoGraph could not transform" not in result.stderr, result.stderr[-2000:]
