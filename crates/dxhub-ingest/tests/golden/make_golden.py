#!/usr/bin/env python3
"""Regenerates the golden files of dxhub-ingest's tests (run from anywhere; needs duckdb).

  python3 crates/dxhub-ingest/tests/golden/make_golden.py [--bench DIR]

DIR is shared/bench (default: the one beside the repository). Writes, next to this script:

  feed_2k.csv, feed_2k.ndjson   clean feeds from gen_dossiers.py (same seed: same records)
  indicators_2k.csv             the indicator table DuckDB computes from feed_2k.csv with
                                shared/bench/baseline_duckdb.py's exact query
  bad_2k.csv, bad_2k.ndjson     feeds with malformed lines (--bad-rate 0.05)
  bad_2k.csv.expected, bad_2k.ndjson.expected
                                one line per malformed line the generator wrote:
                                `<line number>,<field at fault or ->,<kind>`; a line the
                                spec still accepts (province "00" is two digits) is listed
                                with field `ok`

The generator is imported, not copied: its corrupt_csv / corrupt_ndjson are wrapped to
record every line they produce (the wrapper calls the original, so the random stream and
the output are byte-identical to a plain run).
"""
import argparse
import io
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_BENCH = os.path.normpath(os.path.join(HERE, "..", "..", "..", "..", "..", "shared", "bench"))
SEED = 7
EVENTS = 2000
CSV_FIELDS = ("dossier_id,source,version,service_code,province_code,commune_code,channel,"
              "end_to_end,status,received_at,due_at,completed_at,fee_vnd,paid_online").split(",")


def generate(gen, fmt, bad_rate, out_path):
    produced = {}
    orig_csv, orig_nd = gen.corrupt_csv, gen.corrupt_ndjson

    def rec_csv(line, rng):
        bad = orig_csv(line, rng)
        produced[bad] = classify_csv(line, bad)
        return bad

    def rec_nd(line, rng):
        bad = orig_nd(line, rng)
        produced[bad] = classify_ndjson(line, bad)
        return bad

    gen.corrupt_csv, gen.corrupt_ndjson = rec_csv, rec_nd
    try:
        args = gen_args(gen, fmt, bad_rate)
        buf = io.StringIO()
        gen.generate(args, buf, log=io.StringIO())
    finally:
        gen.corrupt_csv, gen.corrupt_ndjson = orig_csv, orig_nd
    text = buf.getvalue()
    with open(out_path, "w", encoding="utf-8", newline="") as f:
        f.write(text)
    expected = []
    for no, line in enumerate(text.splitlines(keepends=True), start=1):
        if line in produced:
            field, kind = produced[line]
            expected.append("%d,%s,%s" % (no, field, kind))
    return expected


def gen_args(gen, fmt, bad_rate):
    ap_args = ["--events", str(EVENTS), "--seed", str(SEED), "--format", fmt, "--out", "-",
               "--bad-rate", str(bad_rate)]
    # Reuse the generator's own argument defaults.
    import argparse as _a
    ap = _a.ArgumentParser()
    ap.add_argument("--events", type=int)
    ap.add_argument("--seed", type=int)
    ap.add_argument("--format")
    ap.add_argument("--out")
    ap.add_argument("--dup-rate", type=float, default=0.05)
    ap.add_argument("--ooo-rate", type=float, default=0.02)
    ap.add_argument("--bad-rate", type=float, default=0.0)
    ap.add_argument("--tail-events", type=int, default=0)
    ap.add_argument("--tail-out")
    ap.add_argument("--progress", action="store_true")
    return ap.parse_args(ap_args)


def classify_csv(good, bad):
    g = good.rstrip("\n").split(",")
    b = bad.rstrip("\n").split(",")
    if len(b) != len(g):
        return "-", "cell-count"
    diff = [i for i in range(len(g)) if g[i] != b[i]]
    if 11 in diff and b[8] == "completed" and b[11] == "":
        return "completed_at", "completed-without-completed_at"
    if diff == [8] and b[8] == "completed":
        return "completed_at", "completed-without-completed_at"
    if not diff:
        # k == 6 on a line that was already completed without... cannot happen; keep loud
        raise SystemExit("corruption changed nothing: %r" % bad)
    i = diff[0]
    if i == 4 and b[4] == "00":
        return "ok", "province-00-is-two-digits"
    return CSV_FIELDS[i], "bad-" + CSV_FIELDS[i]


def classify_ndjson(good, bad):
    try:
        b = json.loads(bad)
    except ValueError:
        return "-", "truncated-json"
    g = json.loads(good)
    if "received_at" not in b:
        return "received_at", "missing-received_at"
    if b.get("status") == "completed" and "completed_at" not in b:
        return "completed_at", "completed-without-completed_at"
    for k in ("version", "province_code", "channel"):
        if b.get(k) != g.get(k):
            return k, "bad-" + k
    raise SystemExit("unclassified corruption: %r" % bad)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bench", default=DEFAULT_BENCH)
    a = ap.parse_args()
    sys.path.insert(0, a.bench)
    import gen_dossiers as gen  # noqa: E402

    for fmt in ("csv", "ndjson"):
        generate(gen, fmt, 0.0, os.path.join(HERE, "feed_2k." + fmt))
        exp = generate(gen, fmt, 0.05, os.path.join(HERE, "bad_2k." + fmt))
        with open(os.path.join(HERE, "bad_2k.%s.expected" % fmt), "w") as f:
            f.write("".join(x + "\n" for x in exp))
        print("%s: %d malformed lines" % (fmt, len(exp)))
    out = os.path.join(HERE, "indicators_2k.csv")
    subprocess.run([sys.executable, os.path.join(a.bench, "baseline_duckdb.py"), "--phase", "e2e",
                    "--reruns", "0", "--csv", os.path.join(HERE, "feed_2k.csv"), "--out", out],
                   check=True)
    print("wrote", out)


if __name__ == "__main__":
    main()
