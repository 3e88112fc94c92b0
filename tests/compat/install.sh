#!/usr/bin/env bash
# Installs what the compatibility suite needs, and nothing that is already
# there (safe to run any number of times):
#   * Debian packages: zookeeper (Apache ZooKeeper 3.8 server, zkCli.sh, Java
#     client), zookeeper-bin (the C client shell cli_mt), python3-venv
#   * a Python virtualenv with kazoo and pytest, at $ZK_COMPAT_VENV
#     (default /var/tmp/zkrs-compat-venv)
#
# Environment: ZK_COMPAT_VENV, PYTHON (interpreter for the venv, default
# /usr/bin/python3), KAZOO_SPEC / PYTEST_SPEC (pip requirement strings).
set -euo pipefail

VENV=${ZK_COMPAT_VENV:-/var/tmp/zkrs-compat-venv}
PYTHON=${PYTHON:-/usr/bin/python3}
KAZOO_SPEC=${KAZOO_SPEC:-kazoo==2.11.0}
PYTEST_SPEC=${PYTEST_SPEC:-pytest>=7,<10}

say() { echo "install: $*"; }

SUDO=""
if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null; then SUDO="sudo"; else
        say "not root and no sudo: apt-get steps may fail"
    fi
fi

# ------------------------------------------------------------------ apt
APT_PKGS=(zookeeper zookeeper-bin python3-venv)
missing=()
for p in "${APT_PKGS[@]}"; do
    if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
        say "apt package $p already installed ($(dpkg-query -W -f='${Version}' "$p"))"
    else
        missing+=("$p")
    fi
done
if ((${#missing[@]})); then
    say "apt-get update"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
    say "apt-get install -y ${missing[*]}"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

for f in /usr/share/java/zookeeper.jar /usr/share/zookeeper/bin/zkCli.sh; do
    [[ -e $f ]] || { say "expected $f after installing zookeeper, not found"; exit 1; }
done
CLI=""
for c in /usr/lib/zookeeper/bin/cli_mt /usr/bin/cli_mt /usr/lib/zookeeper/bin/cli_st /usr/bin/cli_st; do
    if [[ -x $c ]]; then CLI=$c; break; fi
done
[[ -n $CLI ]] || { say "no cli_mt/cli_st found after installing zookeeper-bin"; exit 1; }
command -v java >/dev/null || { say "java not found (zookeeper should have pulled in a JRE)"; exit 1; }
say "ZooKeeper jar: $(readlink -f /usr/share/java/zookeeper.jar)"
say "C client shell: $CLI"
say "java: $(java -version 2>&1 | head -1)"

# ------------------------------------------------------------------ venv
if [[ -x $VENV/bin/python ]] && "$VENV/bin/python" -c 'import sys' 2>/dev/null; then
    say "virtualenv $VENV exists"
else
    say "creating virtualenv $VENV with $PYTHON"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
fi

need_pip=0
"$VENV/bin/python" - "$KAZOO_SPEC" "$PYTEST_SPEC" <<'EOF' || need_pip=1
import sys
from importlib.metadata import version, PackageNotFoundError
try:
    from packaging.requirements import Requirement
except ImportError:
    Requirement = None
for spec in sys.argv[1:]:
    name = spec.split("=")[0].split(">")[0].split("<")[0].strip()
    try:
        v = version(name)
    except PackageNotFoundError:
        sys.exit(1)
    if Requirement is not None and v not in Requirement(spec).specifier:
        sys.exit(1)
    if Requirement is None and "==" in spec and spec.split("==")[1] != v:
        sys.exit(1)
EOF
if ((need_pip)); then
    say "pip install '$KAZOO_SPEC' '$PYTEST_SPEC' into $VENV"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check "$KAZOO_SPEC" "$PYTEST_SPEC"
else
    say "kazoo and pytest already satisfy '$KAZOO_SPEC' '$PYTEST_SPEC'"
fi
say "kazoo $("$VENV/bin/python" -c 'from importlib.metadata import version; print(version("kazoo"))'), pytest $("$VENV/bin/python" -c 'from importlib.metadata import version; print(version("pytest"))')"
say "done"
