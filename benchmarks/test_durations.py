"""Time per test folder from a pytest run's `--durations=0` report.

    python -m pytest -n 2 --durations=0 > run.txt
    python benchmarks/test_durations.py run.txt [other_run.txt]

Prints, per folder under tests/, the number of tests and the summed setup + call +
teardown seconds (with xdist these are per-worker seconds: their sum over folders is
about workers x wall time). Given two reports, the second is shown beside the first.
"""

import collections
import re
import sys

LINE = re.compile(r"^([0-9.]+)s (setup|call|teardown)\s+(tests/\S+?)::(\S+)")


def per_folder(path):
    seconds, tests = collections.Counter(), collections.defaultdict(set)
    for line in open(path, encoding="utf-8"):
        m = LINE.match(line.strip())
        if m:
            folder = m.group(3).rsplit("/", 1)[0]
            seconds[folder] += float(m.group(1))
            tests[folder].add(m.group(3) + "::" + m.group(4))
    wall = re.search(r" in ([0-9.]+)s", open(path, encoding="utf-8").read())
    return seconds, {k: len(v) for k, v in tests.items()}, float(wall.group(1)) if wall else None


def main(paths):
    runs = [per_folder(p) for p in paths]
    folders = sorted(set().union(*(r[0] for r in runs)))
    head = " | ".join(f"{p}: tests | s" for p in paths)
    print(f"| folder | {head} |")
    print("|---" * (1 + 2 * len(runs)) + "|")
    for folder in folders + ["all"]:
        cells = []
        for seconds, counts, _ in runs:
            s = sum(seconds.values()) if folder == "all" else seconds.get(folder, 0.0)
            n = sum(counts.values()) if folder == "all" else counts.get(folder, 0)
            cells += [str(n), f"{s:.0f}"]
        print(f"| {folder} | " + " | ".join(cells) + " |")
    print("wall seconds: " + ", ".join(f"{r[2]}" for r in runs))


if __name__ == "__main__":
    main(sys.argv[1:])
