#!/usr/bin/env bash
# Runs the client compatibility suite: kazoo (test_kazoo.py), the Java shell
# (zkcli.sh) and the C shell (cclient.sh).
#
#   tests/compat/run.sh                       # against $ZK_HOSTS (default 127.0.0.1:2181)
#   tests/compat/run.sh --reference           # start Apache ZooKeeper 3.8 standalone, test it, stop it
#   tests/compat/run.sh --reference-ensemble  # the same with 3 ZooKeeper nodes on loopback
#   tests/compat/run.sh --zkrs BIN            # start zk-rs (BIN: its zk-server) standalone, test it
#   tests/compat/run.sh --zkrs-ensemble BIN   # the same with 3 zk-rs nodes on loopback
#   tests/compat/run.sh --only kazoo -- -k acl   # pick suites; pytest args after --
#
# Environment:
#   ZK_HOSTS        connect string of the server(s) under test (ignored with --reference*)
#   SKIP_INSTALL=1  do not run install.sh
#   ZK_COMPAT_VENV  virtualenv with kazoo and pytest (default /var/tmp/zkrs-compat-venv)
#   ZK_JVM_FLAGS    JVM flags for the reference ZooKeeper nodes
#   KEEP_REFERENCE=1  keep the reference servers' directory (configs, data, logs)
# Exit status: 0 when every selected suite passed, 1 otherwise, 2 on usage or
# setup errors.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VENV=${ZK_COMPAT_VENV:-/var/tmp/zkrs-compat-venv}
export ZK_COMPAT_VENV=$VENV
MODE=external
ONLY="kazoo,zkcli,cclient"
PYTEST_ARGS=()

usage() { sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; }

while (($#)); do
    case $1 in
        --reference) MODE=standalone ;;
        --reference-ensemble) MODE=ensemble ;;
        --zkrs) MODE=standalone; ZKRS_BIN=${2:?--zkrs needs the zk-server binary}; shift ;;
        --zkrs-ensemble) MODE=ensemble; ZKRS_BIN=${2:?--zkrs-ensemble needs the zk-server binary}; shift ;;
        --only) ONLY=${2:?--only needs a list like kazoo,zkcli,cclient}; shift ;;
        --only=*) ONLY=${1#--only=} ;;
        -h | --help) usage; exit 0 ;;
        --) shift; PYTEST_ARGS=("$@"); break ;;
        *) echo "run.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
    shift
done

say() { echo "compat: $*"; }

if [[ ${SKIP_INSTALL:-0} != 1 ]]; then
    "$HERE/install.sh" || { say "install.sh failed"; exit 2; }
fi

# ------------------------------------------------------------------ reference ZooKeeper
REF_DIR=""
REF_PIDS=()

free_ports() { # free_ports N: N distinct free TCP ports on 127.0.0.1
    python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

fourlw() { # fourlw PORT CMD: a four-letter word on 127.0.0.1:PORT
    timeout 5 bash -c 'exec 3<>/dev/tcp/127.0.0.1/$1 && printf "%s" "$2" >&3 && cat <&3' _ "$1" "$2" 2>/dev/null
}

stop_reference() {
    local pid i
    for pid in "${REF_PIDS[@]}"; do kill "$pid" 2>/dev/null; done
    for pid in "${REF_PIDS[@]}"; do
        for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    REF_PIDS=()
    if [[ -n $REF_DIR ]]; then
        if [[ ${KEEP_REFERENCE:-0} == 1 ]]; then say "reference servers' files kept in $REF_DIR"; else rm -rf "$REF_DIR"; fi
        REF_DIR=""
    fi
}

show_reference_logs() {
    local f
    for f in "$REF_DIR"/node*/server.log; do
        [[ -f $f ]] || continue
        echo "----- tail of $f -----"
        tail -n 30 "$f"
    done
}

start_reference() { # start_reference NODES (Apache ZooKeeper, or zk-rs with ZKRS_BIN set)
    local n=$1 i
    if [[ -z ${ZKRS_BIN:-} ]]; then
        [[ -e /usr/share/java/zookeeper.jar ]] || { say "no /usr/share/java/zookeeper.jar: run install.sh"; exit 2; }
        command -v java >/dev/null || { say "no java: run install.sh"; exit 2; }
    else
        [[ -x $ZKRS_BIN ]] || { say "no zk-server binary at $ZKRS_BIN"; exit 2; }
    fi
    REF_DIR=$(mktemp -d /tmp/zkrs-compat-ref.XXXXXX)
    local cp=/usr/share/java/zookeeper.jar
    [[ -d /etc/zookeeper/conf ]] && cp="/etc/zookeeper/conf:$cp"
    # a logging backend, so the servers' warnings land in server.log
    [[ -e /usr/share/java/slf4j-simple.jar ]] && cp="$cp:/usr/share/java/slf4j-simple.jar"
    local flags=${ZK_JVM_FLAGS:-"-Xmx256m -Xms32m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.net.preferIPv4Stack=true"}
    # reap emptied container nodes every second (the default is every minute)
    flags="$flags -Dznode.container.checkIntervalMs=1000 -Dorg.slf4j.simpleLogger.defaultLogLevel=warn -Dorg.slf4j.simpleLogger.showDateTime=true"
    local -a ports
    read -r -a ports <<<"$(free_ports $((3 * n)))"
    local hosts="" servers=""
    for ((i = 1; i <= n; i++)); do
        servers+="server.$i=127.0.0.1:${ports[3 * i - 2]}:${ports[3 * i - 1]}"$'\n'
        hosts+="${hosts:+,}127.0.0.1:${ports[3 * i - 3]}"
    done
    for ((i = 1; i <= n; i++)); do
        local d="$REF_DIR/node$i"
        mkdir -p "$d/data"
        cat >"$d/zoo.cfg" <<EOF
tickTime=2000
initLimit=10
syncLimit=5
dataDir=$d/data
clientPort=${ports[3 * i - 3]}
clientPortAddress=127.0.0.1
maxClientCnxns=0
4lw.commands.whitelist=*
admin.enableServer=false
EOF
        if ((n > 1)); then
            echo "$i" >"$d/data/myid"
            printf '%s' "$servers" >>"$d/zoo.cfg"
        fi
        if [[ -n ${ZKRS_BIN:-} ]]; then
            # zk-rs reads ZooKeeper's Java properties from zoo.cfg
            echo "znode.container.checkIntervalMs=1000" >>"$d/zoo.cfg"
            "$ZKRS_BIN" --config "$d/zoo.cfg" >"$d/server.log" 2>&1 &
        else
            # shellcheck disable=SC2086
            java $flags -Dzookeeper.log.dir="$d" -cp "$cp" \
                org.apache.zookeeper.server.quorum.QuorumPeerMain "$d/zoo.cfg" >"$d/server.log" 2>&1 &
        fi
        REF_PIDS+=($!)
    done
    say "started ${ZKRS_BIN:+zk-rs }${ZKRS_BIN:-Apache ZooKeeper} ($n node$( ((n > 1)) && echo s)) at $hosts, files in $REF_DIR"
    local deadline=$((SECONDS + 90)) leaders ready mode port
    while :; do
        ready=0 leaders=0
        for ((i = 1; i <= n; i++)); do
            port=${ports[3 * i - 3]}
            [[ $(fourlw "$port" ruok) == imok ]] || continue
            mode=$(fourlw "$port" srvr | sed -n 's/^Mode: //p')
            case $mode in
                standalone | follower) ready=$((ready + 1)) ;;
                leader) ready=$((ready + 1)); leaders=$((leaders + 1)) ;;
            esac
        done
        if ((ready == n)) && { ((n == 1)) || ((leaders == 1)); }; then break; fi
        for pid in "${REF_PIDS[@]}"; do
            kill -0 "$pid" 2>/dev/null || { say "a reference node exited during start-up"; show_reference_logs; exit 2; }
        done
        if ((SECONDS > deadline)); then say "reference ZooKeeper not serving after 90 s"; show_reference_logs; exit 2; fi
        sleep 0.3
    done
    for ((i = 1; i <= n; i++)); do
        say "node $i: $(fourlw "${ports[3 * i - 3]}" srvr | grep -E '^(Zookeeper version|Mode):' | tr '\n' ' ')"
    done
    export ZK_HOSTS=$hosts
    # the reference reaps containers quickly, so the suite may check it
    export ZK_CONTAINER_REAP_SECS=${ZK_CONTAINER_REAP_SECS:-20}
}

trap 'stop_reference' EXIT
trap 'exit 130' INT TERM

case $MODE in
    standalone) start_reference 1 ;;
    ensemble) start_reference 3 ;;
    external)
        export ZK_HOSTS=${ZK_HOSTS:-127.0.0.1:2181}
        reachable=0
        IFS=, read -r -a hl <<<"$ZK_HOSTS"
        for h in "${hl[@]}"; do
            h=${h%%/*}
            if timeout 3 bash -c 'exec 3<>/dev/tcp/$1/$2' _ "${h%:*}" "${h##*:}" 2>/dev/null; then reachable=1; fi
        done
        ((reachable)) || { say "nothing listens at ZK_HOSTS=$ZK_HOSTS"; exit 2; }
        ;;
esac

# ------------------------------------------------------------------ suites
LOGDIR=$(mktemp -d /tmp/zkrs-compat-logs.XXXXXX)
TOTAL_PASS=0
TOTAL_FAIL=0
SUMMARY=()
FAILED_SUITES=0

record() { # record NAME RC PASSED FAILED
    TOTAL_PASS=$((TOTAL_PASS + $3))
    TOTAL_FAIL=$((TOTAL_FAIL + $4))
    if (($2 == 0)); then SUMMARY+=("$(printf '%-8s PASS  %3d passed' "$1" "$3")")
    else
        FAILED_SUITES=$((FAILED_SUITES + 1))
        SUMMARY+=("$(printf '%-8s FAIL  %3d passed, %d failed (exit %d)' "$1" "$3" "$4" "$2")")
    fi
}

selected() { [[ ,$ONLY, == *,$1,* ]]; }

say "testing ZK_HOSTS=$ZK_HOSTS"
START=$SECONDS

if selected kazoo; then
    say "== kazoo (pytest test_kazoo.py)"
    (cd "$HERE" && "$VENV/bin/python" -m pytest -p no:cacheprovider -q -rfEs \
        test_kazoo.py "${PYTEST_ARGS[@]}") 2>&1 | tee "$LOGDIR/kazoo.log"
    rc=${PIPESTATUS[0]}
    last=$(grep -E '[0-9]+ (passed|failed|errors?)' "$LOGDIR/kazoo.log" | tail -1)
    p=$(grep -oE '[0-9]+ passed' <<<"$last" | awk '{s+=$1} END {print s+0}')
    f=$(grep -oE '[0-9]+ (failed|errors?)' <<<"$last" | awk '{s+=$1} END {print s+0}')
    ((rc == 0 || f > 0)) || f=1
    record kazoo "$rc" "${p:-0}" "$f"
fi

for suite in zkcli cclient; do
    selected $suite || continue
    say "== $suite ($suite.sh)"
    "$HERE/$suite.sh" 2>&1 | tee "$LOGDIR/$suite.log"
    rc=${PIPESTATUS[0]}
    p=$(grep -cE "^$suite: ok [0-9]+ " "$LOGDIR/$suite.log")
    record $suite "$rc" "$p" $((rc == 0 ? 0 : 1))
done

say "== summary (ZK_HOSTS=$ZK_HOSTS, mode $MODE, $((SECONDS - START)) s)"
for line in "${SUMMARY[@]}"; do say "  $line"; done
rm -rf "$LOGDIR"
if ((FAILED_SUITES)) && [[ $MODE != external ]]; then show_reference_logs; fi
echo "compat: $TOTAL_PASS passed, $TOTAL_FAIL failed"
((FAILED_SUITES == 0))
