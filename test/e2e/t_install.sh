#!/usr/bin/env bash
# Installation and service integration (issue 12, point 1), without booting
# systemd:
#   1. `cmake --install` of this build into a scratch root (DESTDIR) puts
#      programs, units, sysusers.d, tmpfiles.d, config, pdns snippet and docs
#      where GNUInstallDirs and systemd expect them, and the installed
#      programs run;
#   2. both units pass `systemd-analyze verify` with no message, and each
#      scores at most 2.0 ("OK") with `systemd-analyze security --offline`;
#      so do the GeoIP update service and its timer (verify);
#   3. systemd-sysusers and systemd-tmpfiles, run on the scratch root,
#      create the geosteer user and group, put pdns in the group, and make
#      the runtime and state directories with their modes;
#   4. the sd_notify protocol: geosteerd under NOTIFY_SOCKET says READY=1
#      only once its socket accepts, RELOADING=1 then READY=1 around a
#      SIGHUP, and STOPPING=1 at SIGTERM.
. "$(dirname "$0")/lib.sh"
gs_require cmake systemd-analyze systemd-sysusers systemd-tmpfiles
BUILD=$(dirname "$GEOSTEERD")
[ -f "$BUILD/CMakeCache.txt" ] || gs_skip "no CMake build directory beside $GEOSTEERD"
prefix=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$BUILD/CMakeCache.txt")
root=$GS_TMP/root

echo "== 1. cmake --install into a scratch root (prefix $prefix)"
DESTDIR=$root cmake --install "$BUILD" >"$GS_TMP/install.log" 2>&1 ||
    gs_fail "cmake --install failed: $(tail -5 "$GS_TMP/install.log")"
etc=$prefix/etc
[ "$prefix" = /usr ] && etc=/etc
for f in "$prefix/sbin/geosteerd" "$prefix/sbin/geosteer-probe" "$prefix/bin/geosteer" \
    "$prefix/lib/systemd/system/geosteerd.service" \
    "$prefix/lib/systemd/system/geosteer-probe.service" \
    "$prefix/lib/sysusers.d/geosteer.conf" "$prefix/lib/tmpfiles.d/geosteer.conf" \
    "$etc/geosteer/geosteer.json" "$prefix/share/doc/geosteer/examples/geosteer.conf" \
    "$etc/logrotate.d/geosteer" \
    "$prefix/share/doc/geosteer/README.md" "$prefix/share/doc/geosteer/design.md" \
    "$prefix/share/man/man1/geosteer.1" "$prefix/share/man/man5/geosteer.json.5" \
    "$prefix/share/man/man8/geosteerd.8" "$prefix/share/man/man8/geosteer-probe.8"; do
    [ -f "$root$f" ] || gs_fail "not installed: $f"
done
for f in "$prefix/lib/systemd/system/geosteer-geoip-update.service" \
    "$prefix/lib/systemd/system/geosteer-geoip-update.timer" "$etc/default/geosteer-geoip-update"; do
    [ -f "$root$f" ] || gs_fail "not installed: $f"
done
units=$root$prefix/lib/systemd/system
grep -q "^ExecStart=$prefix/sbin/geosteerd -c $etc/geosteer/geosteer.json\$" "$units/geosteerd.service" ||
    gs_fail "geosteerd.service does not start the installed program on the installed config"
grep -q "^EnvironmentFile=-$etc/default/geosteer-geoip-update\$" "$units/geosteer-geoip-update.service" ||
    gs_fail "geosteer-geoip-update.service does not read the installed settings file"
echo "ok: programs, units, sysusers, tmpfiles, config, snippet, docs and man pages installed"

echo "== 2. the installed programs run; systemd-analyze verify and security"
gs_check_installed "$root" "$prefix" "$etc" "$prefix/lib/systemd/system"
echo "ok: the installed programs run, the config checks, both units verify"
for u in geosteerd geosteer-probe geosteer-geoip-update; do
    line=$(cd "$root" && systemd-analyze security --offline=true --root="$root" \
        "${units#"$root"/}/$u.service" 2>&1 | grep 'Overall exposure level') ||
        gs_fail "no security score for $u.service"
    score=$(echo "$line" | sed -E 's/.*: ([0-9.]+) .*/\1/')
    awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }' || gs_fail "$u.service scores $score (> 2.0): $line"
    echo "ok: $u.service: exposure $score (at most 2.0)"
done
# geosteerd with the metrics drop-in (the network it then needs): a drop-in
# is read as if appended to the unit, so the score is the concatenation's.
dropin=$root$prefix/share/doc/geosteer/examples/geosteerd-metrics.conf
[ -f "$dropin" ] || gs_fail "not installed: the metrics drop-in"
cat "$units/geosteerd.service" "$dropin" >"$units/geosteerd-with-metrics.service"
line=$(cd "$root" && systemd-analyze security --offline=true --root="$root" \
    "${units#"$root"/}/geosteerd-with-metrics.service" 2>&1 | grep 'Overall exposure level') ||
    gs_fail "no security score for geosteerd.service with the metrics drop-in"
score=$(echo "$line" | sed -E 's/.*: ([0-9.]+) .*/\1/')
awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }' ||
    gs_fail "geosteerd.service with the metrics drop-in scores $score (> 2.0): $line"
rm "$units/geosteerd-with-metrics.service"
echo "ok: geosteerd.service with the metrics drop-in: exposure $score (at most 2.0)"
# The pipe configuration's example and drop-ins (doc/pipe.md); the unit they
# restart is the one Debian's pdns-server ships.
for f in pdns-geosteer-pipe.conf geosteerd-pipe.conf pdns-pipe-geosteer.conf; do
    [ -f "$root$prefix/share/doc/geosteer/examples/$f" ] || gs_fail "not installed: examples/$f"
done
grep -q '^ExecStartPost=+/bin/systemctl --no-block try-restart pdns@pipe.service$' \
    "$root$prefix/share/doc/geosteer/examples/geosteerd-pipe.conf" ||
    gs_fail "geosteerd-pipe.conf does not restart pdns@pipe"
if [ -f /lib/systemd/system/pdns@.service ]; then
    grep -q -- '--config-name=%i' /lib/systemd/system/pdns@.service ||
        gs_fail "pdns@.service does not run --config-name=%i: doc/pipe.md's recipe does not apply"
fi
echo "ok: the pipe configuration's example and drop-ins installed"

echo "== 3. sysusers and tmpfiles on the scratch root"
mkdir -p "$root/etc"
touch "$root/etc/passwd" "$root/etc/group" "$root/etc/shadow" "$root/etc/gshadow"
systemd-sysusers --root="$root" "$root$prefix/lib/sysusers.d/geosteer.conf" >/dev/null 2>&1 ||
    gs_fail "systemd-sysusers refused geosteer.conf"
grep -q '^geosteer:' "$root/etc/passwd" || gs_fail "no geosteer user"
grep -qE '^geosteer:x:[0-9]+:(.*,)?pdns(,.*)?$' "$root/etc/group" ||
    gs_fail "pdns is not a member of group geosteer: $(grep '^geosteer:' "$root/etc/group")"
if [ "$(id -u)" -eq 0 ]; then
    systemd-tmpfiles --root="$root" --create "$root$prefix/lib/tmpfiles.d/geosteer.conf" ||
        gs_fail "systemd-tmpfiles refused geosteer.conf"
    [ "$(stat -c '%a' "$root/run/geosteer")" = 750 ] || gs_fail "/run/geosteer is not 0750"
    [ "$(stat -c '%a' "$root/var/lib/geosteer")" = 700 ] || gs_fail "/var/lib/geosteer is not 0700"
    echo "ok: user, group with pdns, /run/geosteer 0750 and /var/lib/geosteer 0700"
else
    echo "SKIP (part): systemd-tmpfiles --create needs root to set owners"
fi

echo "== 4. sd_notify: READY once serving, RELOADING/READY around SIGHUP, STOPPING"
cat >"$GS_TMP/geosteer.json" <<EOF
{"settings": {"socket": "$GS_TMP/backend.sock", "zone_db": "$GS_TMP/zones.db"}}
EOF
python3 - "$GEOSTEERD" "$GS_TMP" <<'PY'
import os, signal, socket, subprocess, sys, time
daemon, tmp = sys.argv[1], sys.argv[2]
ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
ns.bind(os.path.join(tmp, "notify.sock"))
ns.settimeout(30)
env = dict(os.environ, NOTIFY_SOCKET=os.path.join(tmp, "notify.sock"))
log = open(os.path.join(tmp, "geosteerd.log"), "w")
p = subprocess.Popen([daemon, "-c", os.path.join(tmp, "geosteer.json")], env=env,
                     stdout=log, stderr=log)
def expect(word):
    msg = ns.recv(4096).decode()
    if word not in msg.split("\n"):
        p.kill(); sys.exit("expected %s, got %r" % (word, msg))
    return msg
try:
    expect("READY=1")
    # Ready means serving: the socket answers a request at once.
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.connect(os.path.join(tmp, "backend.sock"))
    c.sendall(b'{"method":"getAllDomains","parameters":{}}\n')
    if not c.recv(4096).startswith(b'{"result":'):
        sys.exit("no reply right after READY=1")
    c.close()
    p.send_signal(signal.SIGHUP)
    expect("RELOADING=1")
    msg = expect("READY=1")
    if "STATUS=serving; last reload applied" not in msg:
        sys.exit("no reload status: %r" % msg)
    p.send_signal(signal.SIGTERM)
    expect("STOPPING=1")
    if p.wait(30) != 0:
        sys.exit("geosteerd exited %d" % p.returncode)
finally:
    if p.poll() is None:
        p.kill()
print("ok: READY=1 (socket answering), RELOADING=1 + READY=1 with STATUS on SIGHUP, STOPPING=1")
PY
echo "PASS: t_install"
