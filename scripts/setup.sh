#!/usr/bin/env bash
# Installs everything geosteer needs to build, run the demo and run every test
# on Debian 12. Uses sudo when not run as root.
set -eu
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
PACKAGES=(
    # build
    cmake gcc make pkg-config libjansson-dev libsqlite3-dev check clang-format
    libmaxminddb-dev libcurl4-openssl-dev
    zlib1g-dev
    # metrics: the HTTP listener (libmicrohttpd: GNU's small embeddable HTTP
    # server, in Debian since 2008), and the Prometheus text parser and curl
    # the metrics test and benchmark use
    libmicrohttpd-dev python3-prometheus-client curl
    # SHA-256 of the loaded geosteer.json for `status` (nettle: GnuTLS's
    # crypto library, already linked through libmicrohttpd)
    nettle-dev
    # GeoIP: source ranges of the default database, and libmaxminddb's tools
    tor-geoipdb mmdb-bin
    # runtime peers and end-to-end tools
    pdns-server pdns-backend-remote pdns-backend-bind pdns-backend-geoip pdns-tools
    # the pipe-backend interface (doc/pipe.md)
    pdns-backend-pipe
    knot-dnsutils dnsutils dnsperf python3 sqlite3 procps
    # probe tests: TLS certificates for the local HTTPS targets
    openssl ca-certificates
    # install test: systemd-analyze, systemd-sysusers, systemd-tmpfiles;
    # the man pages' linter
    systemd mandoc
    # package test: dpkg-buildpackage, dh, lintian
    dpkg-dev debhelper lintian
    # decision log test: the shipped logrotate snippet, run for real
    logrotate
    dnsdist # t_dnsdist.sh and bench/run_dnsdist_bench.sh: dnsdist in front of the nodes
    # DNSSEC tests: an independent validating resolver (NLnet Labs' unbound,
    # with ECS passed through to pdns) beside BIND's delv (dnsutils)
    unbound
)
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends "${PACKAGES[@]}"
# The Debian package may start a pdns service with its own config; geosteer
# uses its own pdns_server instances on loopback high ports, so that one is
# left alone.
