# .ci/deps.sh — sourced by bench/run, tests/run and .ci/run.
# twill_need PKG...     required Debian packages: installed when missing (as
#                       root, or with passwordless sudo), else stop with the
#                       exact command to run.
# twill_want PKG...     optional packages: installed when possible, never fatal.

twill__missing() {
    local p missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
    done
    echo "${missing[*]}"
}

twill__apt() {
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo="sudo"; else return 1; fi
    fi
    if [ -z "${TWILL_APT_UPDATED:-}" ]; then
        $sudo apt-get update -qq || return 1
        export TWILL_APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

twill_need() {
    local missing
    missing=$(twill__missing "$@")
    [ -z "$missing" ] && return 0
    echo "twill: installing missing packages: $missing"
    # shellcheck disable=SC2086
    if ! twill__apt $missing; then
        echo "twill: missing Debian packages. Run:" >&2
        echo "  sudo apt-get update && sudo apt-get install -y $missing" >&2
        exit 1
    fi
}

twill_want() {
    local missing
    missing=$(twill__missing "$@")
    [ -z "$missing" ] && return 0
    echo "twill: installing optional packages: $missing"
    # shellcheck disable=SC2086
    twill__apt $missing || echo "twill: could not install optional packages ($missing); continuing without them" >&2
}
