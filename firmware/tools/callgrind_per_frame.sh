#!/bin/sh
# Host (x86-64) instructions per frame of the front end: run the bench under callgrind and divide the
# inclusive instruction counts of its two timed loops by the number of frames each computed.
# usage: callgrind_per_frame.sh BENCH_BINARY CALLGRIND_OUT
set -eu
bench=$1
out=$2
frames=$("$bench" | sed -n 's/^bench: \([0-9]*\) frames total.*/\1/p')
valgrind --tool=callgrind --callgrind-out-file="$out" "$bench" >/dev/null 2>&1
callgrind_annotate --inclusive=yes "$out" 2>/dev/null | awk -v frames="$frames" '
    /:bench_frames \[/ { n = $1; gsub(",", "", n); frame = n / frames }
    /:bench_push \[/ { n = $1; gsub(",", "", n); push = n / frames }
    END {
        printf "host x86-64 instructions per frame (callgrind): kws_frontend_frame %d, kws_frontend_push %d\n", \
            frame, push
    }'
