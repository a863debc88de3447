#!/usr/bin/env python3
"""The query-adapter experiment of docs/adapter.md (standard library only).

  adapter-experiment.py split SET_FOLDER OUT   writes OUT/train.jsonl (every other query of SET_FOLDER/queries.jsonl,
                                               from the first), OUT/heldout.jsonl (the others), OUT/heldout-phrasing.jsonl
                                               (held-out queries in phrasings the model never saw: style *_held and
                                               text->text); paths are made absolute
  adapter-experiment.py table EVAL_JSON…       sums `mmrag eval --format json` outputs (each with "without_adapter")
                                               per direction, weighted by queries: recall@5 and MRR@10 without → with
"""
import json
import os
import sys
from collections import defaultdict


def split(set_folder, out):
    queries = [json.loads(line) for line in open(os.path.join(set_folder, "queries.jsonl")) if line.strip()]
    for q in queries:
        if "image" in q:
            q["image"] = os.path.join(os.path.abspath(set_folder), q["image"])
        q["relevant"] = [os.path.join(os.path.abspath(set_folder), r) for r in q.get("relevant", [])]
    train, held = queries[0::2], queries[1::2]
    phrasing = [q for q in held if (q.get("style") or "").endswith("_held") or q.get("kind") == "text->text"]
    os.makedirs(out, exist_ok=True)
    for name, part in (("train", train), ("heldout", held), ("heldout-phrasing", phrasing)):
        with open(os.path.join(out, name + ".jsonl"), "w") as f:
            f.writelines(json.dumps(q) + "\n" for q in part)


def table(paths):
    sums = defaultdict(lambda: [0, 0.0, 0.0, 0.0, 0.0])
    for path in paths:
        with_adapter = json.load(open(path))
        without = with_adapter.get("without_adapter") or with_adapter
        for direction in list(with_adapter["directions"]) + ["overall"]:
            a = without["overall"] if direction == "overall" else without["directions"][direction]
            b = with_adapter["overall"] if direction == "overall" else with_adapter["directions"][direction]
            s = sums[direction]
            n = a["queries"]
            s[0] += n
            s[1] += n * a["recall@5"]
            s[2] += n * b["recall@5"]
            s[3] += n * a["mrr@10"]
            s[4] += n * b["mrr@10"]
    print("| direction | queries | recall@5 without → with | Δ | MRR@10 without → with | Δ |")
    print("| --- | ---: | --- | ---: | --- | ---: |")
    for direction, (n, r0, r1, m0, m1) in sums.items():
        print(f"| {direction} | {n} | {r0 / n:.3f} → {r1 / n:.3f} | {(r1 - r0) / n:+.3f} | {m0 / n:.3f} → {m1 / n:.3f} | {(m1 - m0) / n:+.3f} |")


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "split":
        split(sys.argv[2], sys.argv[3])
    elif len(sys.argv) >= 3 and sys.argv[1] == "table":
        table(sys.argv[2:])
    else:
        sys.exit(__doc__)
