#!/bin/sh
# Host (x86-64) instructions per hop of the keyword engine: run bench_engine under callgrind and divide the
# inclusive counts of its bench_* functions by the hops each ran (printed by the bench itself), in the same
# "instructions per hop:" line the Cortex-M4 run prints.
# usage: callgrind_engine.sh BENCH_BINARY CALLGRIND_OUT
set -eu
bench=$1
out=$2
head=$("$bench" | sed -n 's/^bench-engine: \([0-9]*\) hops, \([0-9]*\) with logits, \([0-9]*\) window hops.*/\1 \2 \3/p')
set -- $head
hops=$1
valid=$2
window=$3
valgrind --tool=callgrind --callgrind-out-file="$out" "$bench" >/dev/null 2>&1
callgrind_annotate --inclusive=yes --threshold=100 "$out" 2>/dev/null | awk -v hops="$hops" -v valid="$valid" -v window="$window" '
    function count(line) { n = $1; gsub(",", "", n); return n }
    /:bench_frontend \[/ { fe = count() / hops }
    /:bench_network \[/ { net = count() / hops }
    /:bench_detector \[/ { det = count() / valid }
    /:bench_engine \[/ { eng = count() / hops }
    /:bench_window \[/ { win = count() / window }
    END {
        print "bench-engine (host x86-64, callgrind): " hops " hops"
        printf "instructions per hop: frontend %d network %d detector %d engine %d window %d\n", fe, net, det, eng, win
    }'
