#!/usr/bin/env bash
# Trains elmo_small_en_v2: elmo_small_en (same architecture and softmax vocabulary,
# started from its weights and softmax with `--init-weights`, so perplexities compare),
# trained further on the 21.6M-token corpus of saved_models/build_corpus.py (29 sources:
# books, speeches, dictionaries, documentation), with the default state handling
# (state_reset_prob 0.1) and the full softmax (20,000 words) throughout.
#
# Made for one GPU with the JAX trainer (no TensorFlow needed: Keras, JAX, h5py, NumPy),
# for a fixed wall-clock budget: the run stops after MINUTES (a SIGINT: the step in hand
# finishes and is checkpointed), then a resume with --max-steps at that step exports
# weights.hdf5 and softmax.hdf5 into the run directory. Rerunning the script resumes
# the run for another MINUTES. On a CPU: BACKEND=tensorflow BATCH=128.
# The 2026-12-04 run (not shipped, docs/presets.md): one H200, MINUTES=7.5 then a
# resume with MINUTES=3.3 (10,184 steps of 256 x 20 tokens, 52.1M tokens a direction,
# about 95k tokens/s).
# v2.1 (2026-12-04, second GPU session, not shipped): FROM=<that run's weights.hdf5 and
# vocab.txt> FROM_SOFTMAX=<its softmax.hdf5> (a fresh run from v2; the weights travelled
# to the GPU machine as float16 and were cast back), CORPUS=the corpus without its five
# largest reference sources (gcide, wordnet, linux_doc, perl_doc, postgresql_doc: 24
# files, 10.7M tokens, mostly prose), MINUTES=6 then a resume with MINUTES=4 (7,654
# steps, 39.2M tokens a direction, about 82k tokens/s; 91.3M in all since elmo_small_en).
#
# Run from the repository root (installed, or with the checkout on PYTHONPATH).
set -euo pipefail
RUN=${RUN:-data/run-small-v2}
CORPUS=${CORPUS:-data/corpus}
INIT=${INIT:-data/init-small-v1}
BACKEND=${BACKEND:-jax}
BATCH=${BATCH:-256}            # rows of 20 tokens a step
LR=${LR:-0.2}
MINUTES=${MINUTES:-7}
VALID=${VALID-$INIT/valid_quarter.txt}  # VALID= : no validation (evaluate afterwards)
PY=${PYTHON:-python}
FROM=${FROM:-elmo_keras/models/elmo/presets/elmo_small_en}  # weights.hdf5 + vocab.txt to start from
FROM_SOFTMAX=${FROM_SOFTMAX:-$FROM/softmax.hdf5}

[ -d "$CORPUS/train" ] || $PY saved_models/build_corpus.py --out "$CORPUS" --cache data/packages
mkdir -p "$INIT"
cp "$FROM/weights.hdf5" "$FROM/vocab.txt" "$FROM_SOFTMAX" "$INIT/"
$PY - "$INIT/train_options.json" "$BATCH" "$LR" <<'PY'
import json, sys
d = json.load(open("saved_models/elmo-small-en/train_options.json"))
d.update(state_reset_prob=0.1, sample_softmax=False, batch_size=int(sys.argv[2]),
         learning_rate=float(sys.argv[3]), n_epochs=100)  # the time budget stops it
json.dump(d, open(sys.argv[1], "w"), indent=2, sort_keys=True)
PY
awk 'NR % 4 == 1' "$CORPUS/valid.txt" > "$INIT/valid_quarter.txt"  # validation: 54k tokens

if [ ! -f "$RUN/run.json" ]; then
    args=(--options "$INIT/train_options.json" --vocab "$INIT/vocab.txt"
          --train "$CORPUS/train/*.txt" --init-weights "$INIT/weights.hdf5"
          ${VALID:+--valid "$VALID"})
else
    args=(--resume)
fi
status=0
timeout -s INT -k 60 "${MINUTES}m" $PY -m elmo_keras train --backend "$BACKEND" --out "$RUN" \
    "${args[@]}" --checkpoint-every 500 --log-every 100 || status=$?
[ "$status" = 0 ] || [ "$status" = 130 ] || [ "$status" = 124 ] || [ "$status" = 137 ] || exit "$status"
# Export the last checkpoint (a resume that stops at once, at the step it reached).
step=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["last_checkpoint"])' \
       "$RUN/run.json")
$PY -m elmo_keras train --backend "$BACKEND" --out "$RUN" --resume --max-steps "$step"
ls -la "$RUN"
