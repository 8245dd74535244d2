#!/usr/bin/env bash
# Proves the README's two commands on a pristine Debian 12: builds a minimal root
# (debootstrap --variant=minbase bookworm), clones the committed HEAD of this repository into
# it, and runs there, as root in a chroot:
#   1. scripts/run_main.sh   the main job (must end with "test accuracy: NN.NN%", NN.NN >= 91)
#   2. scripts/test.sh       the whole test suite
# Each command starts from what minbase has, so a package missing from scripts/install_deps.sh
# fails here even when every development machine happens to have it.
#
#   scripts/fresh_machine_check.sh [--skip-sanitizers] [--keep] [--main-only]
#     --skip-sanitizers   run the test command with NA_SKIP_SANITIZERS=1 (no ASan+UBSan stage)
#     --keep              leave the root in place afterwards (its path is printed)
#     --main-only         run only the README's first command
#
# Needs root (chroot and mounts) and reaches the Debian archive (deb.debian.org, or
# NA_DEBIAN_MIRROR). The minbase tarball is cached in NA_FRESH_CACHE (default
# /var/cache/neural_arch/fresh-machine) and rebuilt when older than 30 days. Mounts (/proc,
# /sys, /dev) live in a private mount namespace, so they vanish with it whatever happens.
# Uncommitted changes are not part of the check: it tests what a clone would get.
set -euo pipefail

usage() { awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$0"; }

skip_sanitizers=0
keep=0
main_only=0
for arg in "$@"; do
  case "$arg" in
    --skip-sanitizers) skip_sanitizers=1 ;;
    --keep) keep=1 ;;
    --main-only) main_only=1 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "fresh_machine_check.sh: unknown option '$arg'" >&2; usage >&2; exit 2 ;;
  esac
done

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${NA_FRESH_CACHE:-/var/cache/neural_arch/fresh-machine}
mirror=${NA_DEBIAN_MIRROR:-http://deb.debian.org/debian}
security_mirror=${NA_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
tarball=$cache/bookworm-minbase-amd64.tgz
jobs=${NA_JOBS:-2}

if [[ $(id -u) -ne 0 ]]; then
  echo "fresh_machine_check.sh: must run as root (debootstrap, chroot and mounts)" >&2
  exit 1
fi

start_all=$SECONDS
stage_name=""
stage_start=$SECONDS
timings=()
stage() {
  end_stage
  stage_name=$1
  stage_start=$SECONDS
  printf '\n######## fresh machine: %s ########\n' "$stage_name"
}
end_stage() {
  if [[ -n "$stage_name" ]]; then
    local took=$((SECONDS - stage_start))
    timings+=("$(printf '%-40s %5ds' "$stage_name" "$took")")
    printf '######## (%s took %ds)\n' "$stage_name" "$took"
    stage_name=""
  fi
}

workdir=""
cleanup() {
  local rc=$?
  if ((rc != 0)); then
    printf '\n######## FRESH MACHINE CHECK FAILED at "%s" (exit %d) after %ds ########\n' \
      "${stage_name:-setup}" "$rc" $((SECONDS - start_all)) >&2
  fi
  if [[ -n "$workdir" && -d "$workdir" ]]; then
    if ((keep)); then
      echo "fresh_machine_check.sh: root kept in $workdir/root" >&2
    elif findmnt -rn -o TARGET | grep -q "^$workdir/"; then
      # Cannot happen with the private namespace, but never delete through a mounted /dev.
      echo "fresh_machine_check.sh: something is still mounted under $workdir; not deleting it" >&2
    else
      rm -rf --one-file-system "$workdir"
    fi
  fi
  exit "$rc"
}
trap cleanup EXIT
# A signal ends the script through exit, so the EXIT trap still removes the root.
trap 'exit 130' INT
trap 'exit 143' TERM

stage "host tools"
# debootstrap builds the root; unshare and findmnt come with util-linux (essential).
if ! command -v debootstrap >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends debootstrap </dev/null
fi
command -v git >/dev/null || { echo "fresh_machine_check.sh: git is needed to clone the checkout" >&2; exit 1; }
commit=$(git -C "$repo" rev-parse HEAD)
if [[ -n "$(git -C "$repo" status --porcelain --untracked-files=no)" ]]; then
  echo "note: $repo has uncommitted changes; the check uses the committed HEAD $commit only"
fi

stage "minbase tarball"
mkdir -p "$cache"
if [[ -s "$tarball" && -z "$(find "$tarball" -mtime +30)" ]]; then
  echo "cached: $tarball ($(du -h "$tarball" | cut -f1), $(date -r "$tarball" '+%F %T'))"
else
  partial=$(mktemp -d "$cache/make.XXXXXX")
  debootstrap --variant=minbase --make-tarball="$partial/root.tgz" bookworm "$partial/work" "$mirror" \
    >"$partial/debootstrap.log" 2>&1 || { tail -n 30 "$partial/debootstrap.log" >&2; exit 1; }
  mv "$partial/root.tgz" "$tarball"  # atomic: a failed download never leaves a bad cache
  rm -rf "$partial"
  echo "made: $tarball ($(du -h "$tarball" | cut -f1))"
fi

stage "pristine root (debootstrap --unpack-tarball)"
workdir=$(mktemp -d /var/tmp/na-fresh.XXXXXX)
root=$workdir/root
debootstrap --variant=minbase --unpack-tarball="$tarball" bookworm "$root" "$mirror" \
  >"$workdir/debootstrap.log" 2>&1 || { tail -n 30 "$workdir/debootstrap.log" >&2; exit 1; }
# The archive a default Debian 12 install uses: release, point updates and security.
cat >"$root/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb $security_mirror bookworm-security main
EOF
cp /etc/resolv.conf "$root/etc/resolv.conf"
cp /etc/hosts "$root/etc/hosts"
# The site's network trust, not a project dependency: where this host reaches PyPI through a
# TLS proxy with its own CA (local CAs in /usr/local/share/ca-certificates, pip.conf naming a
# bundle), the root gets the same CA bundle and pip configuration, as any machine on that
# network would have. apt uses plain http and needs none of this.
if compgen -G '/usr/local/share/ca-certificates/*' >/dev/null; then
  mkdir -p "$root/usr/local/share/ca-certificates" "$root/etc/ssl/certs"
  cp -r /usr/local/share/ca-certificates/. "$root/usr/local/share/ca-certificates/"
  cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
  [[ -f /etc/pip.conf ]] && cp /etc/pip.conf "$root/etc/pip.conf"
  echo "site CA certificates and pip.conf copied from this host"
fi
echo "root: $root ($(du -sh --one-file-system "$root" | cut -f1), $(chroot "$root" dpkg-query -f '.\n' -W | wc -l) packages)"

stage "clean checkout"
git clone --quiet --no-hardlinks "$repo" "$root/root/neural_arch"
git -C "$root/root/neural_arch" checkout --quiet "$commit"
echo "cloned $commit into /root/neural_arch"

# Runs a command line as root in the pristine root, with /proc, /sys and /dev mounted in a
# private mount namespace and an environment like a fresh login's: none of this host's but
# NA_JOBS and, when the caller set it, OMP_WAIT_POLICY (passive keeps a check on a busy
# machine from crawling; CI leaves it unset, as a user would).
pass_env=("NA_JOBS=$jobs")
[[ -n "${OMP_WAIT_POLICY:-}" ]] && pass_env+=("OMP_WAIT_POLICY=$OMP_WAIT_POLICY")
in_root() {
  unshare --mount --propagation private -- bash -euc '
    root=$1; shift
    mount -t proc proc "$root/proc"
    mount --rbind /sys "$root/sys"
    mount --rbind /dev "$root/dev"
    exec chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb \
      PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"' \
    in_root "$root" "${pass_env[@]}" "$@"
}

stage "README command 1: scripts/run_main.sh"
main_log=$workdir/run_main.log
in_root bash -c 'cd /root/neural_arch && scripts/run_main.sh' 2>&1 | tee "$main_log"
last=$(tail -n 1 "$main_log")
if [[ ! "$last" =~ ^test\ accuracy:\ ([0-9]+\.[0-9]+)%$ ]]; then
  echo "main job: last line is '$last', not 'test accuracy: NN.NN%'" >&2
  exit 1
fi
accuracy=${BASH_REMATCH[1]}
if ! awk -v a="$accuracy" 'BEGIN { exit !(a >= 91) }'; then
  echo "main job: test accuracy $accuracy% is below 91%" >&2
  exit 1
fi
main_summary=$last

test_summary="(not run: --main-only)"
if ((!main_only)); then
  if ((skip_sanitizers)); then
    stage "README command 2: scripts/test.sh (sanitizer stage skipped: --skip-sanitizers)"
  else
    stage "README command 2: scripts/test.sh"
  fi
  test_log=$workdir/test.log
  in_root bash -c "cd /root/neural_arch && NA_SKIP_SANITIZERS=$skip_sanitizers scripts/test.sh" 2>&1 |
    tee "$test_log"
  test_summary=$(grep -E '^tests: [0-9]+ passed, [0-9]+ failed$' "$test_log" | tail -n 1)
fi
end_stage

printf '\n######## fresh machine check passed in %ds (commit %s) ########\n' \
  $((SECONDS - start_all)) "${commit:0:12}"
printf '  %s\n' "${timings[@]}"
if ((skip_sanitizers)); then
  echo "the test command's ASan+UBSan stage was skipped (--skip-sanitizers)"
fi
echo "main job: $main_summary"
# Last, alone on its line: the test command's own closing count.
echo "$test_summary"
