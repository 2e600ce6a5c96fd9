"""`ELMoTextClassifier` on every Keras backend: fit on raw sentences, predict, save a
`.keras` file, reload it in a fresh process, and predict the same numbers.

The model is trained in the backend's worker process (`run_python`, apart from this one
and shared by the session, so its start-up is paid once) and reloaded in a new process
(`fresh=True`) that never held it; JAX and PyTorch run with TensorFlow unimportable (the
preprocessor runs outside the graph, in NumPy). Each backend also covers other
constructor options (`encoder`, `units`, `trainable_mix`, `dropout`).
"""

import json

import numpy as np
import pytest

from tests.conftest import TINY
from tests.support.processes import run_python

TEXTS = ["a good fine film", "good and fine", "a fine good day", "fine fine good",
         "a bad awful film", "bad and awful", "an awful bad day", "awful bad bad"]
LABELS = [1, 1, 1, 1, 0, 0, 0, 0]
OPTIONS = {
    "tensorflow": {"encoder": "pooling"},
    "jax": {"encoder": "bilstm", "units": 4},
    "torch": {"encoder": "bilstm", "units": 4, "trainable_mix": False, "dropout": 0.5},
}

TRAIN = """
import json, sys
import keras, numpy as np
import elmo_keras as ek

folder, options = sys.argv[1], json.loads(sys.argv[2])
texts, labels = json.load(open(folder + "/data.json"))
keras.utils.set_random_seed(0)
model = ek.ELMoTextClassifier(
    ek.load_bilm(sys.argv[3] + "/options.json", sys.argv[3] + "/lm_weights.hdf5"), 2,
    **options)
model.compile(keras.optimizers.Adam(0.05))
head = keras.ops.convert_to_numpy(model.output_dense.kernel)
history = model.fit(np.array(texts, dtype=object), np.array(labels), epochs=2, batch_size=8,
                    verbose=0)
assert np.all(np.isfinite(history.history["loss"])), history.history
assert not np.allclose(keras.ops.convert_to_numpy(model.output_dense.kernel), head)
np.save(folder + "/before.npy", model.predict(texts, batch_size=8, verbose=0))
model.save(folder + "/clf.keras")
print(keras.backend.backend(), sys.modules.get("tensorflow") is not None)
"""

RELOAD = """
import json, sys
import keras, numpy as np
import elmo_keras  # registers the classes

folder = sys.argv[1]
texts, _ = json.load(open(folder + "/data.json"))
model = keras.saving.load_model(folder + "/clf.keras")
np.save(folder + "/after.npy", model.predict(texts, batch_size=8, verbose=0))
print(type(model).__name__, model.encoder_name, model.preprocessor.tokenizer.split)
"""


@pytest.mark.slow  # fit, save and reload per backend
@pytest.mark.parametrize("backend", list(OPTIONS))
def test_classifier_trains_saves_and_reloads_on_backend(backend, tmp_path):
    (tmp_path / "data.json").write_text(json.dumps([TEXTS, LABELS]))
    options = OPTIONS[backend]
    out = run_python(TRAIN, tmp_path, json.dumps(options), TINY,
                     backend=backend).stdout.split()
    # JAX and PyTorch ran with TensorFlow unimportable, so it was never loaded.
    assert out == [backend, str(backend == "tensorflow")]
    out = run_python(RELOAD, tmp_path, backend=backend, fresh=True).stdout.split()
    assert out == ["ELMoTextClassifier", options["encoder"], "whitespace"]
    before, after = np.load(tmp_path / "before.npy"), np.load(tmp_path / "after.npy")
    assert before.shape == (len(TEXTS), 2) and np.all(np.isfinite(before))
    np.testing.assert_array_equal(after, before)
