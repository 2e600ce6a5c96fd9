"""The pretrained model shipped with the package (preset `elmo_small_en`): its test
perplexity is recomputed (not read from the card; with the softmax the preset ships for
`elmo_keras.adapt`), and its contextual vectors
separate word senses."""

import json
import re

import numpy as np
import pytest

from elmo_keras import ELMo, Embedder
from elmo_keras.apps.demo import sense_separation, word_vectors
from elmo_keras.models.elmo.elmo_preset_loader import preset_dir
from elmo_keras.training import evaluate

MODEL = preset_dir("elmo_small_en")
SOFTMAX = preset_dir("elmo_small_en") / "softmax.hdf5"  # ships with the preset (for adapt)

# (word, two sentences of one sense, two sentences of another), written for this test.
QUADRUPLES = [
    ("bank", ["We walked along the bank of the river .", "The boat was pulled up on the muddy bank ."],
     ["She put her savings in the bank .", "The bank refused to lend him the money ."]),
    ("plant", ["The chemical plant employs two thousand workers .", "They built a new power plant near the city ."],
     ["Water the plant twice a week .", "Every plant in the garden needs sun and rain ."]),
    ("spring", ["The birds return in the spring .", "Last spring the snow melted early ."],
     ["The water of the spring was clear and cold .", "A small spring ran out of the rock ."]),
    ("present", ["He bought a present for his mother .", "Thank you for the lovely present ."],
     ["At present we have no news .", "The present law is not enough ."]),
    ("bear", ["A great bear came out of the forest .", "The hunter killed the bear with one shot ."],
     ["I cannot bear the thought of leaving .", "She could not bear the pain any longer ."]),
    ("fair", ["The judge was honest and fair .", "It is only fair that everyone pays the same tax ."],
     ["The county fair opens in August .", "We rode the wheel at the fair ."]),
    ("light", ["Turn on the light in the hall .", "The light of the lamp fell on the table ."],
     ["The box was light enough to carry .", "She wore a light coat in the summer ."]),
    ("match", ["He struck a match to light the fire .", "The match went out in the wind ."],
     ["Our team won the match easily .", "The tennis match lasted four hours ."]),
    ("mine", ["The men went down into the coal mine .", "The gold mine was closed last year ."],
     ["That book is mine , not yours .", "The choice is mine to make ."]),
    ("watch", ["He looked at his watch and saw it was late .", "She wore a gold watch on her wrist ."],
     ["We sat down to watch the game .", "They stayed up to watch the stars ."]),
    ("party", ["The party won the election by a wide margin .", "He was the leader of the Democratic party ."],
     ["We had a birthday party for the children .", "They danced all night at the party ."]),
    ("interest", ["The bank pays interest on savings .", "The interest on the debt is high ."],
     ["She showed great interest in music .", "The story held the interest of the boys ."]),
    ("capital", ["Paris is the capital of France .", "The army marched on the capital ."],
     ["The firm needs more capital to grow .", "Foreign capital flowed into the country ."]),
    ("fire", ["The fire spread through the old house .", "They sat around the fire to keep warm ."],
     ["The boss threatened to fire him .", "They will fire the workers who strike ."]),
    ("ring", ["He gave her a gold ring .", "She lost her wedding ring in the garden ."],
     ["I heard the phone ring twice .", "The bells ring every Sunday morning ."]),
    ("bill", ["The Senate passed the bill last night .", "The President signed the bill into law ."],
     ["The waiter brought the bill after dinner .", "He could not pay the bill for the gas ."]),
    ("court", ["The case was heard in court today .", "The court found him guilty ."],
     ["The king and his court rode into the city .", "She was a lady of the court of the queen ."]),
    ("arms", ["She held the baby in her arms .", "He folded his arms and waited ."],
     ["The nation must limit the spread of nuclear arms .", "The rebels took up arms against the king ."]),
    ("cell", ["The prisoner sat alone in his cell .", "They locked him in a small cell ."],
     ["Each cell of the body has a nucleus .", "The blood cell carries oxygen ."]),
    ("sentence", ["The judge passed a sentence of ten years .", "He served his sentence in the state prison ."],
     ["This sentence has no verb .", "Read the first sentence of the letter aloud ."]),
    ("train", ["The train left the station at noon .", "We took the night train to Chicago ."],
     ["We must train more teachers .", "It takes years to train a good doctor ."]),
    ("duty", ["It is our duty to defend the nation .", "He did his duty as a soldier ."],
     ["The duty on imported goods was raised .", "They paid a heavy duty on tea ."]),
    ("will", ["He left his house to her in his will .", "The will was read after the funeral ."],
     ["The people showed a strong will to win .", "She has a will of iron ."]),
    ("figure", ["The figure was higher than last year .", "Write the figure in the first column ."],
     ["A dark figure stood at the door .", "Her slender figure moved across the room ."]),
]


def test_at_least_twenty_quadruples():
    assert len(QUADRUPLES) >= 20
    for word, a, b in QUADRUPLES:
        for s in a + b:
            assert s.split().count(word) == 1, (word, s)


def test_top_layer_separates_senses():
    embed = Embedder(ELMo.from_preset("elmo_small_en"))
    gaps = []
    for word, a, b in QUADRUPLES:
        vectors = word_vectors(embed, [s.split() for s in a + b], word)
        same, diff = sense_separation(vectors, [0, 0, 1, 1])
        np.testing.assert_allclose(same[0], 1.0, atol=1e-5)  # layer 0: context-free
        np.testing.assert_allclose(diff[0], 1.0, atol=1e-5)
        gaps.append(same[-1] - diff[-1])
    separated = sum(g > 0 for g in gaps)
    print(f"top layer separates {separated} of {len(gaps)}; gaps {np.round(gaps, 3)}")
    assert separated > len(gaps) / 2


@pytest.mark.slow
def test_reported_test_perplexity_is_recomputed(tmp_path):
    """The model card's figures from the whole test sample (12,000 words, full softmax
    over 20,000 words, both protocols): about 12 s on 2 cores; a part of the sample
    would not recompute the reported number."""
    for name in ("options.json", "weights.hdf5", "vocab.txt"):
        (tmp_path / name).symlink_to(MODEL / name)
    (tmp_path / "softmax.hdf5").symlink_to(SOFTMAX)
    card = (MODEL / "MODEL_CARD.md").read_text()
    m = re.search(r"perplexity forward=([\d.]+) backward=([\d.]+) average=([\d.]+)", card)
    assert m, "MODEL_CARD.md must state the test-sample perplexity line"
    reported = [float(x) for x in m.groups()]
    got = evaluate(tmp_path, str(MODEL / "test_sample.txt"), verbose=0)
    np.testing.assert_allclose([got["forward"], got["backward"], got["average"]], reported,
                               rtol=1e-3)
    opts = json.loads((MODEL / "options.json").read_text())
    assert opts["char_cnn"]["n_characters"] == 262


def test_every_entry_point_defaults_to_the_shipped_model(tmp_path, capsys):
    import h5py
    import keras

    from elmo_keras import ELMoEmbedding
    from elmo_keras.apps.cli import main

    layer = ELMoEmbedding()
    out = layer(keras.ops.convert_to_tensor(["The bank of the river .", "Hello"]))
    assert out.shape == (2, 6, 2 * json.loads((MODEL / "options.json").read_text())
                         ["lstm"]["projection_dim"])
    (tmp_path / "in.txt").write_text("The bank of the river .\n")
    assert main(["embed", str(tmp_path / "in.txt"), str(tmp_path / "out.hdf5")]) == 0
    with h5py.File(tmp_path / "out.hdf5") as f:
        layers = f["0"][...]
    assert layers.shape == (3, 6, out.shape[-1])
    # A fresh mix is the plain average of the layers (weights 1/3, gamma 1).
    np.testing.assert_allclose(layers.mean(axis=0), np.asarray(out[0]), atol=1e-4)
    assert main(["export-hub", str(tmp_path / "hub")]) == 0
    assert (tmp_path / "hub" / "saved_model.pb").exists()
    assert main(["demo"]) == 0
    text = capsys.readouterr().out
    assert '"bank" in 4 sentences' in text and "nearest neighbours" in text
