#!/usr/bin/env bash
# Writes the benchmark zone and its names list (used by run_bench.sh and
# dnsperf.sh).
# usage: bench/gen_zone.sh ZONE ZONEFILE NAMESFILE
# The zone has exactly 10,000 records over 7,001 owner names:
#   SOA, NS, ns1 A                                  3
#   h0..h1999     A                             2,000
#   h2000..h3999  A + AAAA                      4,000
#   h4000..h4999  TXT                           1,000
#   h5000..h5499  MX                              500
#   h5500..h6999  CNAME -> h0..h1499            1,500
#   h0..h996      a second A (2-record RRsets)    997
# NAMESFILE lists the 7,000 h-names, one absolute name per line.
set -eu
[ $# -eq 3 ] || { echo "usage: $0 ZONE ZONEFILE NAMESFILE" >&2; exit 64; }
zone=${1%.}
awk -v zone="$zone" -v zf="$2" -v nf="$3" 'BEGIN {
    printf "$ORIGIN %s.\n$TTL 300\n", zone > zf
    printf "@ IN SOA ns1.%s. hostmaster.%s. 1 10800 3600 604800 300\n", zone, zone > zf
    printf "@ IN NS ns1.%s.\nns1 IN A 192.0.2.53\n", zone > zf
    printf "" > nf
    for (i = 0; i < 7000; i++) {
        n = "h" i
        printf "%s.%s.\n", n, zone > nf
        if (i < 4000)
            printf "%s IN A 10.%d.%d.%d\n", n, int(i / 65536) % 256, int(i / 256) % 256, i % 256 > zf
        if (i < 997)
            printf "%s IN A 10.200.%d.%d\n", n, int(i / 256), i % 256 > zf
        if (i >= 2000 && i < 4000)
            printf "%s IN AAAA 2001:db8::%x\n", n, i > zf
        if (i >= 4000 && i < 5000)
            printf "%s IN TXT \"v=bench1 id=%d pool=%s\"\n", n, i, (i % 2 ? "blue" : "green") > zf
        if (i >= 5000 && i < 5500)
            printf "%s IN MX %d h%d.%s.\n", n, 10 * (i % 3 + 1), i % 2000, zone > zf
        if (i >= 5500)
            printf "%s IN CNAME h%d.%s.\n", n, i - 5500, zone > zf
    }
}'
nrec=$(grep -vc '^\$' "$2")
[ "$nrec" -eq 10000 ] || { echo "gen_zone: generated $nrec records, expected 10000" >&2; exit 1; }
