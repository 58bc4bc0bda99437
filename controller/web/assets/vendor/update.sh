#!/usr/bin/env bash
# Re-downloads the pinned front-end libraries from the npm registry with
# `npm pack`, checks each tarball and each extracted file against the
# SHA-256 sums below, and copies the files here.
#
#   ./update.sh          download, verify, install
#   ./update.sh --check  only verify the files already here
#
# To move to a new version: change the version, run once, read the
# mismatch report, review the upstream changes, then record the new sums.
set -euo pipefail
cd "$(dirname "$0")"

# package@version  tarball-sha256
TARBALLS=(
  "htmx.org@2.0.11 165a2655073e9e6e55e307a7c74e8ebcdb76afb7701f9c16cfd106a13add408e"
  "uplot@1.6.32    4b8a8191e425658e3ea8c8c1314b0fc679c861ee3a1af2b20c7b16ba50b5133d"
  "leaflet@1.9.4   84c65a256e50657896f54c33bd857b6849ebe94c817803be818bf32a3dde0b77"
)

# package  path-in-tarball  file-here  sha256
FILES=(
  "htmx.org package/dist/htmx.min.js       htmx.min.js       d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717"
  "htmx.org package/LICENSE                htmx.LICENSE      d3d2456f76414f2456104660ebd65aff1c04cd7966b942bdabd63f3cdb316a38"
  "uplot    package/dist/uPlot.iife.min.js uPlot.iife.min.js 19c8d4c6ad88929a79f4ae49d6f7161566dfd0ba3d15cc495e974f787eb78f1f"
  "uplot    package/dist/uPlot.min.css     uPlot.min.css     df630c6a8d6f8eeaff264b50f73ce5b114f646ffd9a0bb74f049b0a00135fa04"
  "uplot    package/LICENSE                uplot.LICENSE     8f989229699b4fe2f1a0432d0e9edc338a8a911e250e2d1b01ecd770a5f5b1bd"
  "leaflet  package/dist/leaflet.js        leaflet.js        db49d009c841f5ca34a888c96511ae936fd9f5533e90d8b2c4d57596f4e5641a"
  "leaflet  package/dist/leaflet.css       leaflet.css       a7837102824184820dfa198d1ebcd109ff6d0ff9a2672a074b9a1b4d147d04c6"
  "leaflet  package/LICENSE                leaflet.LICENSE   53e8dc25862014e4324741ca18fbe3611e11d42ef69f59f86ea8c5389647d4cb"
)

sum() { sha256sum "$1" | cut -d' ' -f1; }
bad=0

if [[ "${1:-}" == "--check" ]]; then
  for line in "${FILES[@]}"; do
    read -r _ _ here want <<<"$line"
    got=$(sum "$here")
    if [[ "$got" == "$want" ]]; then echo "ok       $here"; else echo "MISMATCH $here: $got"; bad=1; fi
  done
  exit "$bad"
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for line in "${TARBALLS[@]}"; do
  read -r spec want <<<"$line"
  name=${spec%@*}
  (cd "$tmp" && npm pack --silent "$spec" >/dev/null)
  tgz=$(ls "$tmp/${name}-"*.tgz)
  got=$(sum "$tgz")
  if [[ "$got" != "$want" ]]; then
    echo "MISMATCH tarball $spec: $got (want $want)" >&2
    bad=1
    continue
  fi
  mkdir -p "$tmp/$name"
  tar -xzf "$tgz" -C "$tmp/$name"
  echo "ok       $spec"
done
[[ "$bad" == 0 ]] || exit 1

for line in "${FILES[@]}"; do
  read -r name inside here want <<<"$line"
  got=$(sum "$tmp/$name/$inside")
  if [[ "$got" != "$want" ]]; then
    echo "MISMATCH $name/$inside: $got (want $want)" >&2
    bad=1
  fi
done
[[ "$bad" == 0 ]] || exit 1

for line in "${FILES[@]}"; do
  read -r name inside here _ <<<"$line"
  cp "$tmp/$name/$inside" "$here"
  echo "updated  $here"
done
