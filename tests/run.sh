#!/usr/bin/env bash
# Runs every Mast test: static checks, unit and property tests, end-to-end
# tests against real processes on SQLite and PostgreSQL, and the agent's ARM
# builds and tests under qemu. Installs what is missing first (Debian
# packages, Rust targets); needs root (or sudo) for that on a fresh machine.
#
#   tests/run.sh            everything
#   MAST_SKIP_CROSS=1 tests/run.sh   skip the ARM builds (quick local runs)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then SUDO="sudo"; fi

step() { printf '\n== %s (%s)\n' "$*" "$(date -u +%T)"; }

# --- what the tests need -----------------------------------------------------
pkgs=()
need() { command -v "$1" >/dev/null 2>&1 || pkgs+=("${@:2}"); }
need gcc build-essential
need pg_isready postgresql-client
need chromedriver chromium chromium-driver
need ip iproute2
need mount mount
need snmpd snmpd
need snmpbulkwalk snmp
need fping fping
need pdftotext poppler-utils
need dovecot dovecot-imapd
need minisign minisign
# tests/packages.sh: lintian, and systemd-analyze to verify the units.
need lintian lintian
need systemd-analyze systemd
/usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null || pkgs+=(python3-aiosmtpd)
SNMPSIM_VENV="${MAST_SNMPSIM_VENV:-/opt/mast-snmpsim}"
# snmpsim needs Debian's python3 (the pyenv one has no dbm module) with venv.
if [ ! -x "$SNMPSIM_VENV/bin/snmpsim-command-responder" ]; then
  [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import ensurepip, venv, dbm.ndbm' 2>/dev/null ||
    pkgs+=(python3 python3-venv)
fi
if [ -z "${MAST_SKIP_CROSS:-}" ]; then
  need aarch64-linux-gnu-gcc gcc-aarch64-linux-gnu libc6-dev-arm64-cross
  need arm-linux-gnueabihf-gcc gcc-arm-linux-gnueabihf libc6-dev-armhf-cross
  need qemu-aarch64-static qemu-user-static
fi
PG_URL="${MAST_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432}"
pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
if ! command -v pg_isready >/dev/null 2>&1 || ! pg_up; then
  command -v pg_ctlcluster >/dev/null 2>&1 || pkgs+=(postgresql)
fi
if [ ${#pkgs[@]} -gt 0 ]; then
  step "installing ${pkgs[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${pkgs[@]}" >/dev/null
fi
if ! pg_up && [ -z "${MAST_TEST_PG_URL:-}" ]; then
  step "starting PostgreSQL"
  ver=$(ls /etc/postgresql | sort -n | tail -1)
  hba=/etc/postgresql/$ver/main/pg_hba.conf
  # Local test cluster: let the tests connect as postgres over loopback.
  grep -q 'mast-tests' "$hba" || $SUDO sed -i '1i host all postgres 127.0.0.1/32 trust # mast-tests' "$hba"
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$ver" main start || true
  for _ in $(seq 30); do pg_up && break; sleep 1; done
  pg_up || { echo "PostgreSQL did not come up" >&2; exit 1; }
fi
export MAST_TEST_PG_URL="$PG_URL"

# SNMP simulator (PyPI snmpsim + the snmpsim-data device recordings) in its own venv.
if [ ! -x "$SNMPSIM_VENV/bin/snmpsim-command-responder" ]; then
  step "creating the snmpsim virtualenv in $SNMPSIM_VENV"
  $SUDO /usr/bin/python3 -m venv "$SNMPSIM_VENV"
  $SUDO "$SNMPSIM_VENV/bin/pip" install -q snmpsim snmpsim-data pysmi
fi
export MAST_SNMPSIM_VENV="$SNMPSIM_VENV"

rustup component add rustfmt clippy >/dev/null 2>&1 || true
if [ -z "${MAST_SKIP_CROSS:-}" ]; then
  rustup target add aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf >/dev/null
fi
# Debian packages (tests/packages.sh); 3.8.0 builds with the pinned Rust.
if ! cargo deb --version >/dev/null 2>&1; then
  step "installing cargo-deb"
  cargo install cargo-deb --version 3.8.0 --locked
fi

# --- checks and tests --------------------------------------------------------
step "cargo fmt --check"
cargo fmt --all -- --check
step "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
step "build"
cargo build --workspace --all-targets
# The fleet-upgrade tests take agents from this build to a second real build
# that reports version 2.0.0 (the tests skip building under MAST_SKIP_BUILD).
MAST_BUILD_VERSION=2.0.0 cargo build -p mast-agent --target-dir target/v2
step "tests (unit, property, end-to-end on SQLite and PostgreSQL)"
# The end-to-end tests need PostgreSQL: under CI=true a missing server fails them.
# Processes the tests start (browsers, agents, controllers, simulators) must
# all be gone when they end, also after a failure: compare before and after.
ours() { pgrep -f 'chromium|chromedriver|mast-agent|mast-controller|snmpsim-command-responder|snmpd' | sort; }
before=$(ours || true)
MAST_SKIP_BUILD=1 cargo test --workspace
sleep 2
left=$(comm -13 <(echo "$before") <(ours || true) | grep -v "^$$\$" || true)
if [ -n "$left" ]; then
  echo "the tests left these processes running:" >&2
  for p in $left; do ps -o pid=,args= -p "$p" >&2 || true; done
  exit 1
fi

if [ -z "${MAST_SKIP_CROSS:-}" ]; then
  for t in aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf; do
    step "agent for $t: release build, --version and unit tests under qemu"
    cargo build --profile agent -p mast-agent --target "$t"
    bin="target/$t/agent/mast-agent"
    case $t in
      aarch64*) runner="qemu-aarch64-static -L /usr/aarch64-linux-gnu" ;;
      armv7*) runner="qemu-arm-static -L /usr/arm-linux-gnueabihf" ;;
    esac
    $runner "$bin" --version
    echo "size of stripped $bin: $(stat -c %s "$bin") bytes"
    cargo test -p mast-agent --target "$t"
  done
fi
# After the cross builds: the arm64 and armhf packages are made from them.
step "packages: build and check"
tests/packages.sh
step "all tests passed"
