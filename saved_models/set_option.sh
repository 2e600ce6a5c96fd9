# Sourced by the training scripts. set_option KEY VALUE: change one key of the run's
# training options ($OUT/train_options.json) between the phases of one run (a JSON value).
set_option() {
    python - "$OUT/train_options.json" "$1" "$2" <<'PY'
import json, sys
path, key, value = sys.argv[1:]
d = json.load(open(path)); d[key] = json.loads(value)
json.dump(d, open(path, "w"), indent=2, sort_keys=True)
PY
}
