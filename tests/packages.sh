#!/usr/bin/env bash
# Builds the Debian packages (deploy/README.md) into target/debian/ and checks
# them: the agent for amd64, arm64 and armhf, the controller for amd64.
#
# Each package: its control fields, architecture and ELF machine. The amd64
# ones are also unpacked (dpkg -x) into a fresh directory: binaries run, units
# carry the keys the agent and controller rely on, /etc/mast/controller.toml
# is a conffile, maintainer scripts are executable and parse, lintian passes
# (errors fail; the overrides are in deploy/debian/*/lintian-overrides). Then,
# where the kernel allows it (root, overlayfs), they are installed for real
# with dpkg -i in a throwaway chroot, an overlay of this machine's own root
# that vanishes afterwards (nothing here changes): users, directories and
# modes, the binary copy rules of the agent's postinst, systemd-analyze
# verify on the installed units, removal and purge. No systemd runs there,
# so the maintainer scripts are checked to cope without it.
#
#   tests/packages.sh                    everything
#   MAST_SKIP_CROSS=1 tests/packages.sh  the amd64 packages only
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

out=target/debian
cross_targets=(aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf)
SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then SUDO="sudo"; fi

failures=0
ok() { echo "  ok: $*"; }
bad() { echo "  FAILED: $*" >&2; failures=$((failures + 1)); }
check() { # check DESCRIPTION COMMAND...
  local what=$1
  shift
  if "$@" >/dev/null 2>&1; then ok "$what"; else bad "$what"; fi
}
section() { printf -- '-- %s\n' "$*"; }

work=$(mktemp -d)
# --one-file-system: never into a mount (the chroot's are gone with its namespace).
trap 'rm -rf --one-file-system "$work"' EXIT

# --- build -------------------------------------------------------------------
command -v cargo-deb >/dev/null || cargo deb --version >/dev/null 2>&1 ||
  { echo "cargo-deb is missing: cargo install cargo-deb --version 3.8.0 --locked" >&2; exit 1; }
rm -f "$out"/mast-agent_*.deb "$out"/mast-controller_*.deb
section "building the amd64 packages"
# The agent profile strips already (and the host strip cannot read ARM).
cargo deb -p mast-agent --no-strip
cargo deb -p mast-controller
if [ -z "${MAST_SKIP_CROSS:-}" ]; then
  for t in "${cross_targets[@]}"; do
    section "building the agent package for $t"
    # A no-op after tests/run.sh's cross builds.
    cargo build --profile agent -p mast-agent --target "$t"
    cargo deb -p mast-agent --target "$t" --no-build --no-strip
  done
fi

deb_of() { # deb_of PACKAGE ARCH
  local f
  f=$(ls "$out/$1"_*_"$2".deb 2>/dev/null | head -1)
  [ -n "$f" ] || { echo "no $1 package for $2 in $out" >&2; exit 1; }
  echo "$f"
}
field() { dpkg-deb --field "$2" "$1"; } # field NAME DEB
machine_of() { readelf -h "$1" | sed -n 's/^ *Machine: *//p'; }
has_line() { grep -qx -- "$2" "$1"; } # has_line FILE LINE
# The libc6 version a package depends on (none with an architecture qualifier)
# and the newest GLIBC_ symbol version its binary needs.
libc6_dep() { field Depends "$1" | sed -n 's/.*\blibc6 (>= \([0-9.]*\)).*/\1/p'; }
glibc_needed() { readelf -V --wide "$1" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1 || true; }
check_libc6() { # check_libc6 DEB BINARY
  local have need
  have=$(libc6_dep "$1")
  need=$(glibc_needed "$2")
  check "Depends: libc6 (>= ${have:-?}) covers GLIBC_${need:-?}" \
    test -n "$have" -a -n "$need" -a "$(dpkg --compare-versions "${have:-0}" ge "${need:-0}" && echo y)" = y
}

# --- every package -----------------------------------------------------------
declare -A elf_machine=([amd64]="Advanced Micro Devices X86-64" [arm64]="AArch64" [armhf]="ARM")
archs=(amd64)
[ -n "${MAST_SKIP_CROSS:-}" ] || archs+=(arm64 armhf)
for arch in "${archs[@]}"; do
  deb=$(deb_of mast-agent "$arch")
  section "$(basename "$deb")"
  x="$work/agent-$arch"
  dpkg -x "$deb" "$x"
  check "Architecture: $arch" test "$(field Architecture "$deb")" = "$arch"
  check "agent binary is an executable ELF for $arch" \
    test -x "$x/usr/lib/mast-agent/mast-agent" -a "$(machine_of "$x/usr/lib/mast-agent/mast-agent")" = "${elf_machine[$arch]}"
  check_libc6 "$deb" "$x/usr/lib/mast-agent/mast-agent"
  case $arch in
    arm64) runner="qemu-aarch64-static -L /usr/aarch64-linux-gnu" ;;
    armhf) runner="qemu-arm-static -L /usr/arm-linux-gnueabihf" ;;
    *) runner="" ;;
  esac
  if [ -z "$runner" ] || command -v "${runner%% *}" >/dev/null; then
    check "mast-agent --version runs" $runner "$x/usr/lib/mast-agent/mast-agent" --version
  fi
done

# --- the amd64 packages in detail --------------------------------------------
agent_deb=$(deb_of mast-agent amd64)
ctl_deb=$(deb_of mast-controller amd64)
for deb in "$agent_deb" "$ctl_deb"; do
  section "$(basename "$deb"): dpkg-deb --info, --contents"
  dpkg-deb --info "$deb"
  dpkg-deb --contents "$deb"
done

root="$work/root"
mkdir "$root"
dpkg -x "$agent_deb" "$root"
dpkg -x "$ctl_deb" "$root"
mkdir "$work/control-agent" "$work/control-controller"
dpkg-deb --control "$agent_deb" "$work/control-agent"
dpkg-deb --control "$ctl_deb" "$work/control-controller"

section "mast-agent (amd64) contents"
a=/usr/lib/mast-agent/mast-agent
check "$a --version says mast-agent" sh -c "'$root$a' --version | grep -q '^mast-agent '"
check "/usr/bin/mast-agent -> /var/lib/mast-agent/bin/mast-agent" \
  test "$(readlink "$root/usr/bin/mast-agent")" = /var/lib/mast-agent/bin/mast-agent
check "nothing shipped under /var/lib (the postinst makes it)" test ! -e "$root/var/lib"
unit="$root/usr/lib/systemd/system/mast-agent.service"
check "unit usr/lib/systemd/system/mast-agent.service" test -f "$unit"
for line in Type=notify NotifyAccess=main WatchdogSec=60 Restart=always RestartSec=5 KillMode=control-group \
  User=mast-agent Group=mast-agent AmbientCapabilities=CAP_NET_RAW CapabilityBoundingSet=CAP_NET_RAW \
  ReadWritePaths=/var/lib/mast-agent NoNewPrivileges=true ProtectSystem=strict \
  "ExecStart=/var/lib/mast-agent/bin/mast-agent run --state-dir /var/lib/mast-agent/state --metrics-listen 127.0.0.1:9108"; do
  check "agent unit: $line" has_line "$unit" "$line"
done

section "mast-controller (amd64) contents"
c=/usr/bin/mast-controller
check "$c is an executable x86-64 ELF" test -x "$root$c" -a "$(machine_of "$root$c")" = "${elf_machine[amd64]}"
check "$c --version says mast-controller" sh -c "'$root$c' --version | grep -q '^mast-controller '"
check_libc6 "$ctl_deb" "$root$c"
check "/etc/mast/controller.toml is the annotated config" cmp "$root/etc/mast/controller.toml" deploy/controller.toml
check "/etc/mast/controller.toml is a conffile" has_line "$work/control-controller/conffiles" /etc/mast/controller.toml
unit="$root/usr/lib/systemd/system/mast-controller.service"
check "unit usr/lib/systemd/system/mast-controller.service" test -f "$unit"
for line in Type=notify NotifyAccess=main WatchdogSec=60 Restart=always User=mast Group=mast StateDirectory=mast \
  StateDirectoryMode=0700 ReadWritePaths=/var/lib/mast \
  "ExecStart=/usr/bin/mast-controller --config /etc/mast/controller.toml serve"; do
  check "controller unit: $line" has_line "$unit" "$line"
done

section "maintainer scripts"
for pkg in agent controller; do
  for s in postinst prerm postrm; do
    f="$work/control-$pkg/$s"
    check "$pkg $s: executable" test -x "$f"
    check "$pkg $s: #!/bin/sh, set -e" sh -c "head -1 '$f' | grep -qx '#!/bin/sh' && grep -q '^set -e' '$f'"
    check "$pkg $s: sh -n" sh -n "$f"
    check "$pkg $s: #DEBHELPER# replaced" sh -c "! grep -q '#DEBHELPER#' '$f'"
  done
done

section "lintian"
if command -v lintian >/dev/null; then
  # Errors fail; warnings are shown. Overrides: deploy/debian/*/lintian-overrides.
  # (TMPDIR: lintian leaves temporary files behind.)
  mkdir "$work/lintian-tmp"
  if TMPDIR="$work/lintian-tmp" lintian --fail-on error "$agent_deb" "$ctl_deb"; then
    ok "lintian: no errors"
  else
    bad "lintian reported errors"
  fi
else
  echo "  skipped: lintian is not installed (apt-get install lintian)"
fi

# --- dpkg -i in a throwaway chroot -------------------------------------------
# The chroot is an overlay of / in a private mount namespace: the packages
# install into its upper layer (a tmpfs), with this machine's own Debian as
# the base, and everything goes when the namespace ends.
section "dpkg -i, upgrade, remove and purge in a throwaway chroot"
cp "$agent_deb" "$work/mast-agent.deb"
cp "$ctl_deb" "$work/mast-controller.deb"
cat >"$work/in-chroot.sh" <<'EOF'
# Runs inside the chroot; prints "ok: ..." or "FAILED: ..." lines.
set -u
ok() { echo "  ok: $*"; }
bad() { echo "  FAILED: $*"; }
check() { what=$1; shift; if "$@" >/dev/null 2>&1; then ok "$what"; else bad "$what"; fi; }
mode() { stat -c '%U:%G %a' "$1"; }
fake() { printf '#!/bin/sh\necho "mast-agent %s"\n' "$1" >"$2"; chmod 755 "$2"; }
bin=/var/lib/mast-agent/bin/mast-agent
log=/tmp/dpkg.log

check "no systemd running here" test ! -d /run/systemd/system
if dpkg -i /tmp/mast-agent.deb /tmp/mast-controller.deb >$log 2>&1; then ok "dpkg -i both packages"; else bad "dpkg -i both packages"; cat $log; exit 0; fi
check "the agent postinst says how to enroll" grep -q "sudo -u mast-agent mast-agent enroll --controller" $log
check "the controller postinst says where the admin password is" grep -q "/var/lib/mast/initial-admin-password" $log
check "system user mast-agent" sh -c 'getent passwd mast-agent | grep -q ":/var/lib/mast-agent:/usr/sbin/nologin$"'
check "system user mast" sh -c 'getent passwd mast | grep -q ":/var/lib/mast:/usr/sbin/nologin$"'
check "/var/lib/mast-agent root:root 755" test "$(mode /var/lib/mast-agent)" = "root:root 755"
check "/var/lib/mast-agent/bin mast-agent:mast-agent 755" test "$(mode /var/lib/mast-agent/bin)" = "mast-agent:mast-agent 755"
check "/var/lib/mast-agent/state mast-agent:mast-agent 700" test "$(mode /var/lib/mast-agent/state)" = "mast-agent:mast-agent 700"
check "$bin mast-agent:mast-agent 755, the packaged binary" \
  sh -c "test '$(mode $bin)' = 'mast-agent:mast-agent 755' && cmp $bin /usr/lib/mast-agent/mast-agent"
check "mast-agent (the symlink) --version" sh -c 'mast-agent --version | grep -q "^mast-agent "'
check "the agent user may replace its binary (fleet upgrades)" \
  runuser -u mast-agent -- sh -c "cp $bin $bin.new && mv $bin.new $bin"
check "/etc/mast/controller.toml root:mast 640" test "$(mode /etc/mast/controller.toml)" = "root:mast 640"
check "the mast user reads the config" runuser -u mast -- test -r /etc/mast/controller.toml
check "/var/lib/mast mast:mast 700" test "$(mode /var/lib/mast)" = "mast:mast 700"
check "units not enabled by the installation" sh -c \
  '! test -e /etc/systemd/system/multi-user.target.wants/mast-agent.service && ! test -e /etc/systemd/system/multi-user.target.wants/mast-controller.service'
if command -v systemd-analyze >/dev/null; then
  check "systemd-analyze verify mast-agent.service mast-controller.service" \
    systemd-analyze verify /usr/lib/systemd/system/mast-agent.service /usr/lib/systemd/system/mast-controller.service
  systemd-analyze verify /usr/lib/systemd/system/mast-agent.service /usr/lib/systemd/system/mast-controller.service 2>&1 | sed 's/^/    /'
else
  echo "  skipped: systemd-analyze verify (no systemd-analyze)"
fi

# Package upgrades (a reinstall runs the postinst as an upgrade does).
reinstall() { dpkg -i /tmp/mast-agent.deb >$log 2>&1; }
reinstall_keeps() { reinstall && $bin --version | grep -qx "mast-agent $1"; }
reinstall_replaces() { reinstall && cmp $bin /usr/lib/mast-agent/mast-agent; }
fake 99.0.0 $bin
check "upgrade: a newer self-upgraded agent is kept" reinstall_keeps 99.0.0
fake 0.0.1 $bin
check "upgrade: an older agent is replaced" reinstall_replaces
fake 0.0.1 $bin
fake 99.0.0 $bin.new
check "upgrade: nothing is replaced while a fleet upgrade is staged" reinstall_keeps 0.0.1
check "upgrade: ... and the postinst says so" grep -q "upgrade is staged" $log
rm -f $bin.new
printf 'broken' >$bin
check "upgrade: a binary that does not run is replaced" reinstall_replaces
check "upgrade: no temporary file left in bin/" test "$(ls /var/lib/mast-agent/bin)" = mast-agent
touch /var/lib/mast-agent/state/identity.json
quiet_when_enrolled() { reinstall && ! grep -q "not enrolled" $log; }
check "upgrade: an enrolled agent gets no enroll instructions" quiet_when_enrolled

# Remove, purge.
check "dpkg -r mast-agent" dpkg -r mast-agent
check "removed: /usr/bin/mast-agent gone, /var/lib/mast-agent kept" sh -c "! test -e /usr/bin/mast-agent && test -x $bin"
check "dpkg -P mast-agent" dpkg -P mast-agent
check "purged: /var/lib/mast-agent gone" test ! -e /var/lib/mast-agent
check "dpkg -P mast-controller" dpkg -P mast-controller
check "purged: /etc/mast/controller.toml and its override gone" \
  sh -c '! test -e /etc/mast/controller.toml && ! dpkg-statoverride --list /etc/mast/controller.toml'
check "purged: /var/lib/mast (database, CA) kept" test -d /var/lib/mast
echo "  chroot checks done"
EOF
chroot_test() { # chroot_test WORKDIR (run in a private mount namespace)
  set -eu
  local w=$1 r=$1/chroot
  [ -n "$w" ] && [ -d "$w" ] || { echo "chroot_test: no work directory" >&2; return 1; }
  mkdir "$w/layers" "$r"
  if ! mount -t tmpfs tmpfs "$w/layers" || ! mkdir "$w/layers/up" "$w/layers/work" ||
    ! mount -t overlay overlay -o "lowerdir=/,upperdir=$w/layers/up,workdir=$w/layers/work" "$r"; then
    echo "SKIP: cannot mount an overlay of /"
    return 0
  fi
  # /usr and /var must be part of / for the overlay to hold a whole system.
  if [ ! -x "$r/usr/bin/dpkg" ] || [ ! -f "$r/var/lib/dpkg/status" ]; then
    echo "SKIP: /usr or /var is a separate mount"
    return 0
  fi
  mount --rbind /dev "$r/dev"
  mount -t proc proc "$r/proc"
  mount -t tmpfs tmpfs "$r/tmp"
  # An empty /run: no systemd there, whatever runs on this machine.
  mount -t tmpfs tmpfs "$r/run"
  cp "$w/mast-agent.deb" "$w/mast-controller.deb" "$w/in-chroot.sh" "$r/tmp/"
  chroot "$r" /bin/sh /tmp/in-chroot.sh
}
if ! $SUDO unshare --mount true 2>/dev/null; then
  echo "  skipped: needs root (or sudo) for a private mount namespace (unshare -m)"
else
  chroot_out=$($SUDO unshare --mount --propagation private bash -c "$(declare -f chroot_test); chroot_test '$work'" 2>&1) || true
  echo "$chroot_out"
  if grep -q '^SKIP' <<<"$chroot_out"; then
    echo "  skipped: the dpkg -i check"
  elif ! grep -qx '  chroot checks done' <<<"$chroot_out"; then
    bad "the chroot check did not finish"
  else
    failures=$((failures + $(grep -c '^  FAILED' <<<"$chroot_out" || true)))
  fi
fi

# --- sizes -------------------------------------------------------------------
section "package sizes"
for f in "$out"/mast-agent_*.deb "$out"/mast-controller_*.deb; do
  printf '  %-44s %9s bytes, installed %6s KiB\n' "$(basename "$f")" "$(stat -c %s "$f")" "$(field Installed-Size "$f")"
done

if [ "$failures" != 0 ]; then
  echo "packages: $failures check(s) failed" >&2
  exit 1
fi
echo "packages: all checks passed"
