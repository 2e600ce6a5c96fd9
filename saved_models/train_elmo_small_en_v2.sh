#!/usr/bin/env bash
# Trains elmo_small_en_v2: elmo_small_en (same architecture and softmax vocabulary),
# trained further on the 21.6M-token corpus of saved_models/build_corpus.py (29 sources:
# books, speeches, dictionaries, documentation), with the default state handling
# (state_reset_prob 0.1). On 2 CPU cores there is not the compute to train a larger
# biLM well in a session, so the new model starts from the old one's weights and softmax
# (`--init-weights`), which keeps the vocabulary and makes perplexities comparable.
# Run from the repository root after `pip install -e .`; resumable: rerun the same
# command after an interruption (each phase resumes its run).
set -euo pipefail
OUT=${OUT:-data/run-small-v2}
CORPUS=${CORPUS:-data/corpus}
STEPS_SAMPLED=${STEPS_SAMPLED:-1800}   # phase 1: sampled softmax (4096 negatives)
STEPS_FULL=${STEPS_FULL:-2100}         # phase 2 ends here: full softmax
V1=elmo_keras/models/elmo/presets/elmo_small_en
INIT=${INIT:-data/init-small-v1}

[ -d "$CORPUS/train" ] || python saved_models/build_corpus.py --out "$CORPUS" --cache data/packages
mkdir -p "$INIT"
cp $V1/weights.hdf5 $V1/vocab.txt saved_models/elmo-small-en/softmax.hdf5 "$INIT/"
python - "$INIT/train_options.json" <<'PY'
import json, sys
d = json.load(open("saved_models/elmo-small-en/train_options.json"))
d.update(state_reset_prob=0.1, learning_rate=0.1)  # gentler: the weights are trained already
json.dump(d, open(sys.argv[1], "w"), indent=2, sort_keys=True)
PY
awk 'NR % 4 == 1' "$CORPUS/valid.txt" > "$INIT/valid_quarter.txt"  # validation: 54k tokens

source "$(dirname "$0")/set_option.sh"  # set_option KEY VALUE

if [ ! -f "$OUT/run.json" ]; then
    elmo-keras train --options "$INIT/train_options.json" --vocab "$INIT/vocab.txt" \
        --train "$CORPUS/train/*.txt" --valid "$INIT/valid_quarter.txt" --out "$OUT" \
        --init-weights "$INIT/weights.hdf5" \
        --max-steps "$STEPS_SAMPLED" --checkpoint-every 100 --log-every 25
else
    elmo-keras train --out "$OUT" --resume --max-steps "$STEPS_SAMPLED" \
        --checkpoint-every 100 --log-every 25
fi
set_option sample_softmax false
elmo-keras train --out "$OUT" --resume --max-steps "$STEPS_FULL" --checkpoint-every 100 --log-every 25
