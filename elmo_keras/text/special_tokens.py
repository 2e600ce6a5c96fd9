"""The special tokens of bilm-tf's vocabularies and batches, defined once.

`<S>` and `</S>` frame every sentence (the biLM reads `<S>` first and predicts `</S>`
last); `<UNK>` is the softmax's unknown-token entry (training).
"""

#: Begin of sentence.
BOS_TOKEN = "<S>"
#: End of sentence.
EOS_TOKEN = "</S>"
#: Unknown token (softmax vocabulary).
UNK_TOKEN = "<UNK>"
