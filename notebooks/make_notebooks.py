"""Writes the notebooks of this folder, without outputs: edit them here, then run
`python notebooks/make_notebooks.py`."""

import os

import nbformat as nbf

HERE = os.path.dirname(os.path.abspath(__file__))

INSTALL = '''# Colab: install elmo-keras (does nothing when it is already installed).
import importlib.util, subprocess, sys
REPO = "https://github.com/elmo-keras/elmo-keras"  # this repository
if importlib.util.find_spec("elmo_keras") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", f"git+{REPO}"], check=True)'''


def nb(cells):
    n = nbf.v4.new_notebook()
    n.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    out = []
    for kind, src, *tags in cells:
        c = nbf.v4.new_markdown_cell(src) if kind == "md" else nbf.v4.new_code_cell(src)
        if tags:
            c.metadata["tags"] = tags
        out.append(c)
    n.cells = out
    return n


quickstart = nb([
    ("md", "# ELMo quickstart\n\nEmbed sentences with the pretrained English ELMo that ships "
           "with elmo-keras (the preset `elmo_small_en`), and see how the same word gets "
           "different vectors in different contexts."),
    ("code", INSTALL),
    ("code", "# Parameters\nPRESET = \"elmo_small_en\"  # or a path: a preset directory, "
             "options.json + weights.hdf5, a .keras file", "parameters"),
    ("code", '''import numpy as np
import elmo_keras as ek

print(ek.ELMo.presets)
elmo = ek.ELMo.from_preset(PRESET)
tokenizer = ek.ELMoTokenizer.from_preset(PRESET)   # the tokenization it was trained with
sentences = ["The river bank was muddy.", "She opened a bank account."]
print(tokenizer.tokenize(sentences))  # lists of tokens
out = elmo(tokenizer(sentences))
print("lm_embeddings:", out["lm_embeddings"].shape, "(batch, layers, tokens, dim)")'''),
    ("md", "## The same word in two contexts\n\nLayer 0 (the character CNN) does not see the "
           "context: both \"bank\"s get the same vector. The LSTM layers do."),
    ("code", '''lm = np.asarray(out["lm_embeddings"])
a, b = lm[0, :, 2], lm[1, :, 3]  # "bank" in each sentence, every layer
for layer in range(lm.shape[1]):
    cos = a[layer] @ b[layer] / np.linalg.norm(a[layer]) / np.linalg.norm(b[layer])
    print(f"layer {layer}: cosine(bank_river, bank_money) = {cos:.3f}")'''),
    ("code", '''%matplotlib inline
import matplotlib.pyplot as plt

rows = [("river", "They sat on the bank of the river and watched the boats ."),
        ("river", "The water rose over the bank and flooded the low fields ."),
        ("money", "He went to the bank to borrow money for a new house ."),
        ("money", "The bank raised the interest rate on all of its loans .")]
tokens = [s.split() for _, s in rows]
layers = ek.Embedder(elmo)(tokens)          # per sentence: [layers, tokens, dim]
vectors = np.stack([lay[:, t.index("bank")] for t, lay in zip(tokens, layers)], axis=1)
unit = vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)
fig, axes = plt.subplots(1, len(unit), figsize=(3 * len(unit), 3))
for j, ax in enumerate(axes):
    ax.imshow(unit[j] @ unit[j].T, vmin=0, vmax=1)
    ax.set_title(f"layer {j}")
    ax.set_yticks(range(len(rows)), [sense for sense, _ in rows])
plt.show()'''),
    ("md", "## In a Keras model\n\n`ELMoTextEmbedder` gives one vector per sentence; "
           "`ELMoTextClassifier` trains a classifier on raw strings (see the fine-tuning "
           "notebook)."),
    ("code", '''embedder = ek.ELMoTextEmbedder.from_preset(PRESET)
vectors = embedder.predict(np.array(sentences, dtype=object), verbose=0)
print(vectors.shape)'''),
])

sentiment = nb([
    ("md", "# Fine-tuning a sentiment classifier on ELMo\n\nMovie-review sentences with "
           "human ratings (Hutto & Gilbert 2014, shipped in `vaderSentiment`'s source "
           "archive, fetched from PyPI by `elmo_keras.datasets.sentiment`), positive vs "
           "negative. `ELMoTextClassifier`'s defaults: ELMo (the mix of the frozen biLM's "
           "layers, its weights and gamma trained) beside token embeddings learned for the "
           "task, a dense layer per token, max and mean over the tokens. `FINE_TUNE = True` "
           "also fine-tunes the biLM, ULMFiT's way (gradual unfreezing, lower layers at "
           "lower learning rates; slower)."),
    ("code", INSTALL),
    ("code", "# Parameters\nPRESET = \"elmo_small_en\"\nDATA = \"vader\"    # \"vader\" (fetched from PyPI) or \"toy\"\nSAMPLE = 2000     # training sentences\nEPOCHS = 5\nFINE_TUNE = False", "parameters"),
    ("code", '''import numpy as np
import elmo_keras as ek

if DATA == "vader":
    splits = ek.datasets.sentiment("data/packages")
else:
    good = ["a good fine film", "good and fine", "a fine good day", "so good", "fine work"]
    bad = ["a bad awful film", "bad and awful", "an awful bad day", "so bad", "awful work"]
    rows = [(s, 1) for s in good] + [(s, 0) for s in bad]
    splits = {"train": rows * 4, "dev": rows, "test": rows}
# A shuffled sample with each class in its share of the training split (the split is
# stored sorted by label: its first rows are all of one class).
rng = np.random.default_rng(0)
by_label = {}
for row in splits["train"]:
    by_label.setdefault(row[1], []).append(row)
train = []
for label, rows_of_label in sorted(by_label.items()):
    k = max(1, round(SAMPLE * len(rows_of_label) / len(splits["train"])))
    train += [rows_of_label[i] for i in rng.permutation(len(rows_of_label))[:k]]
train = [train[i] for i in rng.permutation(len(train))]
x_train = np.array([s for s, _ in train], dtype=object)
y_train = np.array([y for _, y in train])
x_test = np.array([s for s, _ in splits["test"]], dtype=object)
y_test = np.array([y for _, y in splits["test"]])
labels, counts = np.unique(y_train, return_counts=True)
assert len(labels) > 1, f"the training sample holds one class only: {dict(zip(labels, counts))}"
print(len(x_train), "training sentences", dict(zip(labels.tolist(), counts.tolist())),
      "|", len(x_test), "test sentences")
majority = max(np.mean(y_test == label) for label in np.unique(y_test))
print(f"majority-class baseline on test: {majority:.3f}")'''),
    ("code", '''tuning = dict(trainable_bilm=True, unfreeze_after=1) if FINE_TUNE else {}
model = ek.ELMoTextClassifier.from_preset(PRESET, num_classes=2, **tuning)  # compiled
mix = ek.ScalarMixHistory()
model.fit(x_train, y_train, epochs=EPOCHS, batch_size=32, validation_split=0.1, callbacks=[mix])
print(f"test accuracy: {model.evaluate(x_test, y_test, verbose=0)[1]:.3f} "
      f"(majority class: {majority:.3f})")'''),
    ("code", '''%matplotlib inline
mix.plot("mix.png")
from IPython.display import Image
Image("mix.png")'''),
])

train_bilm = nb([
    ("md", "# Training a small biLM\n\nTrains a tiny character-input biLM on *Alice's "
           "Adventures in Wonderland* (shipped with the package: "
           "`elmo_keras.datasets.alice_dir()`), with bilm-tf's recipe, then evaluates its "
           "perplexity and uses it as an ELMo."),
    ("code", INSTALL),
    ("code", "# Parameters\nMAX_STEPS = 300\nOUT = \"runs/alice\"", "parameters"),
    ("code", '''import json, os, shutil
import elmo_keras as ek
from elmo_keras.training import build_vocabulary, count_tokens, evaluate, train

ALICE = ek.datasets.alice_dir()
vocab = build_vocabulary(count_tokens(open(ALICE / "train.txt")), min_count=2)
os.makedirs("runs", exist_ok=True)
vocab.save("runs/vocab.txt")
options = {
    "char_cnn": {"activation": "relu", "embedding": {"dim": 8},
                 "filters": [[1, 16], [2, 16], [3, 32], [4, 32]],
                 "max_characters_per_token": 50, "n_characters": 261, "n_highway": 1},
    "lstm": {"cell_clip": 3, "dim": 128, "n_layers": 2, "proj_clip": 3,
             "projection_dim": 64, "use_skip_connections": True},
    "batch_size": 16, "unroll_steps": 20, "n_epochs": 4, "n_negative_samples_batch": 256,
}
json.dump(options, open("runs/options.json", "w"))
shutil.rmtree(OUT, ignore_errors=True)
result = train(OUT, str(ALICE / "train.txt"), "runs/options.json", "runs/vocab.txt",
               valid_files=str(ALICE / "valid.txt"), max_steps=MAX_STEPS, log_every=10)
print(result["valid"])'''),
    ("code", '''from IPython.display import Image
Image(os.path.join(OUT, "learning_curve.png"))'''),
    ("code", '''print(evaluate(OUT, str(ALICE / "test.txt"), verbose=0))
elmo = ek.ELMo.from_preset(OUT)   # the trained biLM as an ELMo
out = elmo(ek.batch_to_ids([["Alice", "was", "tired", "."]]))
print(out["lm_embeddings"].shape)'''),
])

for name, n in (("quickstart", quickstart), ("sentiment_finetuning", sentiment),
                ("train_bilm", train_bilm)):
    nbf.write(n, os.path.join(HERE, f"{name}.ipynb"))
