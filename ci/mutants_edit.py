"""Helper of ci/mutants-survivors.sh: lists the survivors of a cargo-mutants run (its
outcomes.json) or every mutant of a `cargo mutants --list --json` listing, and re-applies
one of them to a tree from its span and replacement text."""
import json
import sys


def survivors(outcomes):
    if isinstance(outcomes, list):  # a listing: every mutant is a candidate
        yield from enumerate(outcomes)
        return
    for i, o in enumerate(outcomes["outcomes"]):
        if o["summary"] == "MissedMutant" and "Mutant" in o["scenario"]:
            yield i, o["scenario"]["Mutant"]


def apply(outcomes, index, tree):
    if isinstance(outcomes, list):
        m = outcomes[index]
    else:
        m = outcomes["outcomes"][index]["scenario"]["Mutant"]
    path = f"{tree}/{m['file']}"
    with open(path) as f:
        lines = f.read().split("\n")
    a, b = m["span"]["start"], m["span"]["end"]
    head = lines[a["line"] - 1][: a["column"] - 1]
    tail = lines[b["line"] - 1][b["column"] - 1 :]
    lines[a["line"] - 1 : b["line"]] = [head + m["replacement"] + tail]
    with open(path, "w") as f:
        f.write("\n".join(lines))


if __name__ == "__main__":
    cmd, outcomes_path = sys.argv[1], sys.argv[2]
    with open(outcomes_path) as f:
        outcomes = json.load(f)
    if cmd == "list":
        for i, m in survivors(outcomes):
            print(f"{i}\t{m['name']}")
    else:
        apply(outcomes, int(sys.argv[3]), sys.argv[4])
