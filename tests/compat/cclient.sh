#!/usr/bin/env bash
# Drives ZooKeeper's C client shell (cli_mt from Debian's zookeeper-bin, the
# 3.8 C binding) against $ZK_HOSTS and checks what it prints.  Stops with a
# non-zero exit and a clear message at the first mismatch.
#
#   ZK_HOSTS=127.0.0.1:2181 tests/compat/cclient.sh
#
# cli_mt has two ways to take commands and both are used:
#  * batch mode, `cli_mt -h HOSTS -c 'CMD'`: one command, one session; it
#    exits when the command's completion arrives (not for exists/myid/addauth,
#    which never complete in this mode, so they are only used interactively).
#  * interactive, commands on stdin: completions arrive asynchronously and it
#    exits (closing the session) at end of input, so this script writes one
#    command at a time through a FIFO and waits for the expected reply before
#    sending the next.
# cli_mt prints almost everything to stderr; its exit code is 0 even when a
# request fails, so the "rc = N" lines are what is checked.
#
# Environment: ZK_HOSTS (default 127.0.0.1:2181), CLI_MT (path of cli_mt),
# ZKCLI (zkCli.sh, used only to set up an ACL the C shell cannot set),
# CCLIENT_TIMEOUT (seconds to wait for any one reply, 20), KEEP_OUTPUT=1.
set -euo pipefail

ZK_HOSTS=${ZK_HOSTS:-127.0.0.1:2181}
CLI_MT=${CLI_MT:-}
if [[ -z $CLI_MT ]]; then
    for c in /usr/lib/zookeeper/bin/cli_mt /usr/bin/cli_mt /usr/lib/zookeeper/bin/cli_st /usr/bin/cli_st; do
        if [[ -x $c ]]; then CLI_MT=$c; break; fi
    done
fi
ZKCLI=${ZKCLI:-/usr/share/zookeeper/bin/zkCli.sh}
TMO=${CCLIENT_TIMEOUT:-20}
export CLIENT_JVMFLAGS=${CLIENT_JVMFLAGS:--Xmx128m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC}

[[ -n $CLI_MT && -x $CLI_MT ]] || { echo "cclient: cli_mt/cli_st not found (run install.sh)" >&2; exit 2; }

ROOT="/zkrs-cclient-$$-$RANDOM"
WORK=$(mktemp -d /tmp/zkrs-cclient.XXXXXX)
STEP=""
OUT=""
PASSED=0
SESSION_PID=""

cleanup() {
    if [[ -n $SESSION_PID ]]; then
        exec 3>&- 2>/dev/null || true
        kill "$SESSION_PID" 2>/dev/null || true
        wait "$SESSION_PID" 2>/dev/null || true
    fi
    if [[ -n $ROOT && -x $ZKCLI ]]; then
        printf 'addauth digest cuser:cpass\ndeleteall %s\nquit\n' "$ROOT" \
            | timeout 60 "$ZKCLI" -server "$ZK_HOSTS" >/dev/null 2>&1 || true
    fi
    if [[ ${KEEP_OUTPUT:-0} == 1 ]]; then echo "cclient: outputs kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

fail() {
    echo "cclient: FAIL in step '$STEP': $*" >&2
    if [[ -n $OUT && -f $OUT ]]; then
        echo "----- cli_mt output -----" >&2
        cat "$OUT" >&2
        echo "-------------------------" >&2
    fi
    exit 1
}

ok() {
    PASSED=$((PASSED + 1))
    echo "cclient: ok $PASSED - $STEP"
}

# ---- matching: every expectation is a whole-line ERE, matched in order ------
POS=0 # lines of $OUT already consumed by earlier expectations

# await REGEX...: wait (up to $TMO s) until each regex matches a line after the
# previous match
await() {
    local pat n deadline
    for pat in "$@"; do
        deadline=$((SECONDS + TMO))
        while :; do
            n=$(tail -n +$((POS + 1)) "$OUT" | grep -n -m1 -E -e "^${pat}\$" | cut -d: -f1 || true)
            if [[ -n $n ]]; then POS=$((POS + n)); break; fi
            ((SECONDS < deadline)) || fail "no line matching /^${pat}\$/ within ${TMO}s"
            sleep 0.05
        done
    done
}

# lines_until REGEX: wait for REGEX, print the lines between POS and it
lines_until() {
    local start=$POS
    await "$1"
    sed -n "$((start + 1)),$((POS - 1))p" "$OUT"
}

# ---- batch mode ---------------------------------------------------------------
SPOS=0 # consumed lines of the interactive session's output
batch() { # batch NAME 'CMD'
    if [[ $OUT == "$SOUT" ]]; then SPOS=$POS; fi
    STEP=$1
    OUT="$WORK/$(printf '%02d' $((PASSED + 1)))-$1.out"
    POS=0
    local rc=0
    timeout "$TMO" "$CLI_MT" -h "$ZK_HOSTS" -c "$2" >"$OUT" 2>&1 || rc=$?
    [[ $rc -ne 124 ]] || fail "cli_mt -c '$2' did not finish within ${TMO}s"
    [[ $rc -eq 0 ]] || fail "cli_mt -c '$2' exited $rc"
    grep -q "^Watcher SESSION_EVENT state = CONNECTED_STATE" "$OUT" || fail "cli_mt never connected"
}

# ---- interactive session through a FIFO ---------------------------------------
SOUT="$WORK/session.out"
start_session() {
    mkfifo "$WORK/in"
    "$CLI_MT" -h "$ZK_HOSTS" <"$WORK/in" >"$SOUT" 2>&1 &
    SESSION_PID=$!
    exec 3>"$WORK/in"
}
send() { # send 'CMD': one line to the interactive cli_mt
    kill -0 "$SESSION_PID" 2>/dev/null || fail "interactive cli_mt died before '$1'"
    echo "$1" >&3
}
in_session() { # in_session NAME: following awaits look at the session output
    STEP=$1
    if [[ $OUT != "$SOUT" ]]; then
        OUT=$SOUT
        POS=$SPOS
    fi
}

# escape a path for use in a regex (paths here only hold [a-z0-9/-] and '+')
re() { printf '%s' "${1//+/\\+}"; }
R=$ROOT
TAB=$'\t'
echo "cclient: $CLI_MT against $ZK_HOSTS under $ROOT"

# =============================================================== batch mode
batch create-root "create $R"
await "Creating \[$R\] node \(mode: 0\)" "\[$R\]: rc = 0" "${TAB}name = $R"
ok

batch get-new "get $R"
# cli's create always stores the 3 bytes "new"
await "$R: rc = 0" " value_len = 3" "new" "Stat:" \
    "${TAB}ctime = .*" "${TAB}czxid=[0-9a-f]+" "${TAB}mtime=.*" "${TAB}mzxid=[0-9a-f]+" \
    "${TAB}version=0${TAB}aversion=0" "${TAB}ephemeralOwner = 0"
ok

batch set "set $R hello world"
await "$R: rc = 0 Stat:" "${TAB}ctime = .*" "${TAB}czxid=[0-9a-f]+" "${TAB}mtime=.*" \
    "${TAB}mzxid=[0-9a-f]+" "${TAB}version=1${TAB}aversion=0" "${TAB}ephemeralOwner = 0"
czxid=$(grep -m1 -oP '^\tczxid=\K[0-9a-f]+' "$OUT")
mzxid=$(grep -m1 -oP '^\tmzxid=\K[0-9a-f]+' "$OUT")
((16#$mzxid > 16#$czxid)) || fail "after set, mzxid $mzxid is not above czxid $czxid"
ok

batch get-set "get $R"
await "$R: rc = 0" " value_len = 11" "hello world" "Stat:" "${TAB}czxid=$czxid" \
    "${TAB}mzxid=$mzxid" "${TAB}version=1${TAB}aversion=0"
ok

batch create-no-parent "create $R/missing/child"
await "\[$R/missing/child\]: rc = -101" # ZNONODE
ok

batch create-dup "create $R"
await "\[$R\]: rc = -110" # ZNODEEXISTS
ok

batch get-missing "get $R/missing"
await "$R/missing: rc = -101"
ok

batch create2 "create2 $R/c2"
await "\[$R/c2\]: rc = 0" "${TAB}name = $R/c2" "${TAB}ctime = .*" "${TAB}czxid=[0-9a-f]+" \
    "${TAB}mtime=.*" "${TAB}mzxid=[0-9a-f]+" "${TAB}version=0${TAB}aversion=0" "${TAB}ephemeralOwner = 0"
ok

batch container "create +c $R/cont" # opcode createContainer (19)
await "Creating \[$R/cont\] node \(mode: 4\)" "\[$R/cont\]: rc = 0" "${TAB}name = $R/cont"
ok

# TTL nodes are refused unless the server enables extended types
# (zookeeper.extendedTypesEnabled); the default answer is ZUNIMPLEMENTED
batch ttl-refused "create +t=5000 $R/ttl"
await "Creating \[$R/ttl\] node \(mode: 5\)" "\[$R/ttl\]: rc = ${CCLIENT_TTL_RC:--6}"
ok

batch sync "sync $R"
await "\[$R\]: rc = 0" "${TAB}name = $R"
ok

# =============================================================== interactive
start_session
in_session connect
await "Watcher SESSION_EVENT state = CONNECTED_STATE" "Got a new session id: 0x[0-9a-f]+"
SID=$(grep -m1 -oP 'Got a new session id: 0x\K[0-9a-f]+' "$SOUT")
[[ $SID != 0 ]] || fail "session id 0"
ok

in_session create-modes
send "create $R/a"
await "\[$R/a\]: rc = 0"
send "create +s $R/s-"
# the parent had 3 children created before (c2, cont, a): suffix 3
await "Creating \[$R/s-\] node \(mode: 2\)" "\[$R/s-\]: rc = 0" "${TAB}name = $R/s-0000000003"
send "create +s $R/s-"
await "\[$R/s-\]: rc = 0" "${TAB}name = $R/s-0000000004"
send "create +e $R/eph"
await "Creating \[$R/eph\] node \(mode: 1\)" "\[$R/eph\]: rc = 0" "${TAB}name = $R/eph"
send "create +es $R/es-"
await "Creating \[$R/es-\] node \(mode: 3\)" "\[$R/es-\]: rc = 0" "${TAB}name = $R/es-0000000006"
send "create $R/eph/child"
await "\[$R/eph/child\]: rc = -108" # ZNOCHILDRENFOREPHEMERALS
ok

in_session ephemeral-owner
send "get $R/eph"
await "$R/eph: rc = 0" " value_len = 3" "new" "Stat:" "${TAB}version=0${TAB}aversion=0" \
    "${TAB}ephemeralOwner = $SID"
ok

in_session ls
send "ls $R"
await "$R: rc = 0"
got=$(lines_until "time = [0-9]+ msec" | sed "s/^${TAB}//" | sort | tr '\n' ' ')
want="a c2 cont eph es-0000000006 s-0000000003 s-0000000004 "
[[ $got == "$want" ]] || fail "ls $R listed '$got', expected '$want' (any order)"
send "ls2 $R"
await "$R: rc = 0"
got=$(lines_until "time = [0-9]+ msec" | sed "s/^${TAB}//" | sort | tr '\n' ' ')
[[ $got == "$want" ]] || fail "ls2 $R listed '$got', expected '$want'"
await "${TAB}ctime = .*" "${TAB}czxid=$czxid" "${TAB}mtime=.*" "${TAB}mzxid=$mzxid" \
    "${TAB}version=1${TAB}aversion=0" "${TAB}ephemeralOwner = 0"
ok

in_session errors
send "delete $R"
await "$R: rc = -111" # ZNOTEMPTY
send "delete $R/nope"
await "$R/nope: rc = -101"
send "set $R/nope x"
await "$R/nope: rc = -101 Stat:" "null"
ok

# get and ls leave watches (cli passes watch=1); wexists sets one explicitly.
# Changes come from other sessions (batch mode).
in_session watches
send "get $R/a"
await "$R/a: rc = 0" "${TAB}ephemeralOwner = 0"
batch other-set "set $R/a changed"
await "$R/a: rc = 0 Stat:"
in_session watches
await "Watcher CHANGED_EVENT state = CONNECTED_STATE for path $R/a"
send "wexists $R/later"
sleep 0.3 # zoo_wexists is synchronous and prints nothing
batch other-create "create $R/later"
await "\[$R/later\]: rc = 0"
in_session watches
await "Watcher CREATED_EVENT state = CONNECTED_STATE for path $R/later"
send "ls $R"
await "$R: rc = 0"
batch other-delete "delete $R/later"
await "$R/later: rc = 0"
in_session watches
await "Watcher CHILD_EVENT state = CONNECTED_STATE for path $R"
ok

# digest auth: the ACL is set up with zkCli (the C shell cannot set ACLs)
if [[ -x $ZKCLI ]]; then
    STEP=acl-setup
    printf 'addauth digest cuser:cpass\ncreate %s/secret\nset %s/secret classified\nsetAcl %s/secret auth:cuser:cpass:cdrwa\nquit\n' "$R" "$R" "$R" \
        | timeout 60 "$ZKCLI" -server "$ZK_HOSTS" >"$WORK/acl-setup.out" 2>&1 \
        || { OUT="$WORK/acl-setup.out"; fail "zkCli could not set up the ACL"; }
    batch acl-noauth "get $R/secret"
    await "$R/secret: rc = -102" # ZNOAUTH
    ok
    in_session acl-auth
    send "addauth digest cuser:wrong"
    send "get $R/secret"
    await "$R/secret: rc = -102"
    send "addauth digest cuser:cpass"
    send "get $R/secret"
    await "$R/secret: rc = 0" " value_len = 10" "classified" "Stat:" "${TAB}version=1${TAB}aversion=1"
    send "delete $R/secret"
    await "$R/secret: rc = 0"
    ok
else
    echo "cclient: skip acl (no zkCli.sh at $ZKCLI)"
fi

in_session quit
send "sync $R"
await "\[$R\]: rc = 0"
send "quit"
await "Quitting..."
exec 3>&-
wait "$SESSION_PID" || fail "interactive cli_mt exited with an error"
SESSION_PID=""
ok

# the session is closed: its ephemerals are gone
batch ephemerals-gone "get $R/eph"
await "$R/eph: rc = -101"
ok

# =============================================================== cleanup via the C client
for p in "$R/a" "$R/s-0000000003" "$R/s-0000000004" "$R/c2" "$R/cont" "$R"; do
    batch "delete-${p##*/}" "delete $p"
    await "$(re "$p"): rc = 0"
done
batch gone "get $R"
await "$R: rc = -101"
ok
ROOT=""
echo "cclient: $PASSED passed, 0 failed"
