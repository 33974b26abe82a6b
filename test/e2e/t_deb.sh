#!/usr/bin/env bash
# The Debian package (issue 12, point 7): `dpkg-buildpackage -us -uc -b` on a
# copy of the source tree builds geosteer_*.deb; lintian reports no error;
# the package holds the programs, units, sysusers and tmpfiles files, config,
# docs and man pages; its maintainer scripts create the user and enable the
# units; extracted into a scratch root, the programs run and the units pass
# `systemd-analyze verify`.
. "$(dirname "$0")/lib.sh"
gs_require git dpkg-buildpackage dh lintian dpkg-deb systemd-analyze
src=${GS_SOURCE_DIR:?GS_SOURCE_DIR must point to the source tree}
git -C "$src" rev-parse --git-dir >/dev/null 2>&1 ||
    gs_skip "$src is not a git checkout: the package is built from its tracked files"
work=$GS_TMP/src/geosteer
mkdir -p "$work"

echo "== 1. dpkg-buildpackage on a copy of the tree"
# Tracked files and new ones not ignored, as they are in the working tree.
(cd "$src" && git ls-files -z --cached --others --exclude-standard |
    xargs -0 cp --parents -t "$work")
# The suite runs the tests itself: the package build skips them here.
(cd "$work" && DEB_BUILD_OPTIONS=nocheck dpkg-buildpackage -us -uc -b) >"$GS_TMP/build.log" 2>&1 ||
    gs_fail "dpkg-buildpackage failed: $(tail -20 "$GS_TMP/build.log")"
deb=$(ls "$GS_TMP"/src/geosteer_*_*.deb 2>/dev/null | head -1)
[ -n "$deb" ] || gs_fail "no geosteer .deb built"
echo "ok: built $(basename "$deb")"

echo "== 2. lintian"
lintian --tag-display-limit 0 "$deb" >"$GS_TMP/lintian.log" 2>&1 || true
if grep -q '^E: ' "$GS_TMP/lintian.log"; then
    gs_fail "lintian reports errors: $(grep '^E: ' "$GS_TMP/lintian.log")"
fi
echo "ok: no lintian error ($(grep -c '^W: ' "$GS_TMP/lintian.log") warnings)"

echo "== 3. contents and maintainer scripts"
root=$GS_TMP/root
dpkg-deb -x "$deb" "$root"
for f in /usr/sbin/geosteerd /usr/sbin/geosteer-probe /usr/bin/geosteer \
    /lib/systemd/system/geosteerd.service /lib/systemd/system/geosteer-probe.service \
    /lib/sysusers.d/geosteer.conf /lib/tmpfiles.d/geosteer.conf /etc/geosteer/geosteer.json \
    /usr/share/doc/geosteer/copyright /usr/share/doc/geosteer/examples/geosteer.conf \
    /usr/share/man/man8/geosteerd.8.gz /usr/share/man/man8/geosteer-probe.8.gz \
    /usr/share/man/man1/geosteer.1.gz /usr/share/man/man5/geosteer.json.5.gz; do
    [ -e "$root$f" ] || gs_fail "not in the package: $f"
done
for f in /lib/systemd/system/geosteer-geoip-update.service \
    /lib/systemd/system/geosteer-geoip-update.timer /etc/default/geosteer-geoip-update; do
    [ -e "$root$f" ] || gs_fail "not in the package: $f"
done
dpkg-deb -e "$deb" "$GS_TMP/control"
grep -q '/etc/geosteer/geosteer.json' "$GS_TMP/control/conffiles" ||
    gs_fail "the config is not a conffile"
grep -q 'systemd-sysusers /lib/sysusers.d/geosteer.conf' "$GS_TMP/control/postinst" ||
    gs_fail "postinst does not create the geosteer user"
grep -q 'deb-systemd-helper' "$GS_TMP/control/postinst" ||
    gs_fail "postinst does not enable the units"
grep -q "deb-systemd-helper.*'geosteer-geoip-update.timer'" "$GS_TMP/control/postinst" ||
    gs_fail "postinst does not enable geosteer-geoip-update.timer"
grep -q '/etc/default/geosteer-geoip-update' "$GS_TMP/control/conffiles" ||
    gs_fail "/etc/default/geosteer-geoip-update is not a conffile"
grep -qx 'interest-noawait /usr/share/tor/geoip' "$GS_TMP/control/triggers" ||
    gs_fail "no trigger on tor-geoipdb's ranges"
grep -q '^triggered)' "$GS_TMP/control/postinst" && grep -q 'geosteer geoip build -o' "$GS_TMP/control/postinst" ||
    gs_fail "postinst does not rebuild the GeoIP database when triggered"
grep -q "ExecStart=/usr/sbin/geosteerd -c /etc/geosteer/geosteer.json" \
    "$root/lib/systemd/system/geosteerd.service" || gs_fail "geosteerd.service runs the wrong path"
echo "ok: files, conffile, user creation, GeoIP rebuild trigger and unit enabling in postinst"

echo "== 4. the packaged programs run; the units verify"
gs_check_installed "$root" /usr /etc /lib/systemd/system
echo "ok: programs run, config checks, units verify"
echo "PASS: t_deb"
