#!/usr/bin/python3
"""metrics_check.py FILE - checks a /metrics answer against Prometheus' text format 0.0.4.

Two independent checks: the official Python client's parser (python3-prometheus-client,
prometheus_client.parser) must read every family, and a strict line-by-line check of
what that parser tolerates: HELP and TYPE before a family's samples, each family in one
block, names and labels well-formed, values numbers, histograms with cumulative buckets
ending in +Inf equal to _count, counters named *_total. Exits 1 with the offending line.
"""
import math
import re
import sys

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:
    sys.exit("metrics_check: python3-prometheus-client is missing (apt-get install "
             "python3-prometheus-client; make test-deps installs it)")

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
SAMPLE = re.compile(r"^(%s)(\{(?:%s)(?:,%s)*\})? (\S+)$" % (NAME, LABEL, LABEL))
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


def fail(msg, line=""):
    sys.exit("metrics_check: %s%s" % (msg, ("\n  " + line) if line else ""))


def main():
    text = open(sys.argv[1], encoding="utf-8").read()
    if not text.endswith("\n"):
        fail("the text must end with a newline")
    families = {f.name: f for f in text_string_to_metric_families(text)}
    if not families:
        fail("no metric family parsed")
    types, seen, current = {}, set(), None
    buckets = {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name = line.split(" ", 3)[2]
            if name in seen:
                fail("family %s appears in two blocks" % name, line)
            seen.add(name)
            current = name
            continue
        if line.startswith("# TYPE "):
            parts = line.split(" ")
            if len(parts) != 4 or parts[3] not in TYPES or parts[2] != current:
                fail("bad TYPE line (or not right after its HELP)", line)
            types[current] = parts[3]
            if parts[3] == "counter" and not current.endswith("_total"):
                fail("counter %s is not named *_total" % current, line)
            continue
        if line.startswith("#") or not line:
            fail("unexpected comment or blank line", line)
        m = SAMPLE.match(line)
        if not m:
            fail("malformed sample", line)
        name, labels, value = m.group(1), m.group(2) or "", m.group(3)
        try:
            v = float(value)
        except ValueError:
            fail("value is not a number", line)
        if current is None or current not in types:
            fail("sample before its family's TYPE", line)
        base = current
        if types[current] == "histogram":
            if name not in (base + "_bucket", base + "_sum", base + "_count"):
                fail("sample outside its histogram family %s" % base, line)
            if name == base + "_bucket":
                le = re.search(r'le="([^"]*)"', labels)
                if not le:
                    fail("bucket without le", line)
                bound = math.inf if le.group(1) == "+Inf" else float(le.group(1))
                prev = buckets.setdefault(base, [])
                if prev and (bound <= prev[-1][0] or v < prev[-1][1]):
                    fail("buckets not increasing and cumulative", line)
                prev.append((bound, v))
            if name == base + "_count":
                b = buckets.get(base, [])
                if not b or b[-1][0] != math.inf or b[-1][1] != v:
                    fail("histogram %s: +Inf bucket missing or not equal to _count" % base, line)
        elif name != base:
            fail("sample %s inside family %s" % (name, base), line)
        if types[current] == "counter" and v < 0:
            fail("negative counter", line)
    for name in types:
        if name.removesuffix("_total") not in families and name not in families:
            fail("family %s not seen by the client parser" % name)
    print("metrics_check: %d families, all well-formed" % len(types))


main()
