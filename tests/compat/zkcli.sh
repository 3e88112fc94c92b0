#!/usr/bin/env bash
# Drives Apache ZooKeeper's Java shell (zkCli.sh, 3.8) against $ZK_HOSTS and
# checks what it prints.  Commands are fed on stdin (one JVM, one session per
# step) or given as arguments (one command, exit code checked).  Stops with a
# non-zero exit and a clear message at the first mismatch.
#
#   ZK_HOSTS=127.0.0.1:2181 tests/compat/zkcli.sh
#
# Environment: ZK_HOSTS (connect string, default 127.0.0.1:2181),
# ZKCLI (path of zkCli.sh), ZKCLI_TIMEOUT (seconds per invocation, 60),
# KEEP_OUTPUT=1 keeps the captured outputs (their directory is printed).
set -euo pipefail

ZK_HOSTS=${ZK_HOSTS:-127.0.0.1:2181}
ZKCLI=${ZKCLI:-/usr/share/zookeeper/bin/zkCli.sh}
ZKCLI_TIMEOUT=${ZKCLI_TIMEOUT:-60}
# small, quick-starting client JVM
export CLIENT_JVMFLAGS=${CLIENT_JVMFLAGS:--Xmx128m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC}

[[ -x $ZKCLI ]] || { echo "zkcli: $ZKCLI not found (run install.sh)" >&2; exit 2; }

ROOT="/zkrs-zkcli-$$-$RANDOM"
WORK=$(mktemp -d /tmp/zkrs-zkcli.XXXXXX)
STEP=""
PASSED=0
cleanup() {
    # best effort: remove whatever this run left, with the identities it used
    if [[ -n ${ROOT:-} ]]; then
        printf 'addauth digest user1:pw1\naddauth digest user2:pw2\ndeleteall %s\nquit\n' "$ROOT" \
            | timeout "$ZKCLI_TIMEOUT" "$ZKCLI" -server "$ZK_HOSTS" >/dev/null 2>&1 || true
    fi
    if [[ ${KEEP_OUTPUT:-0} == 1 ]]; then echo "zkcli: outputs kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

fail() {
    echo "zkcli: FAIL in step '$STEP': $*" >&2
    if [[ -n ${OUT:-} && -f $OUT ]]; then
        echo "----- zkCli output of this step -----" >&2
        grep -v -e '^SLF4J' -e '^[[:space:]]*$' "$OUT" >&2 || true
        echo "--------------------------------------" >&2
    fi
    exit 1
}

# session NAME: run the commands read from stdin in one zkCli session.
# "quit" is appended: at a bare end of input zkCli exits without closing its
# session, which would then linger (with its ephemerals) until it times out.
session() {
    STEP=$1
    OUT="$WORK/$(printf '%02d' $((PASSED + 1)))-$1.out"
    local rc=0
    { cat; echo quit; } | timeout "$ZKCLI_TIMEOUT" "$ZKCLI" -server "$ZK_HOSTS" >"$OUT" 2>&1 || rc=$?
    [[ $rc -ne 124 ]] || fail "zkCli did not finish within ${ZKCLI_TIMEOUT}s"
    grep -q 'state:SyncConnected type:None' "$OUT" || fail "zkCli never connected to $ZK_HOSTS"
    grep -q 'state:Closed type:None' "$OUT" || fail "zkCli did not close its session cleanly"
}

# one_shot NAME EXPECTED_RC CMD...: one command as arguments
one_shot() {
    STEP=$1
    local want=$2
    shift 2
    OUT="$WORK/$(printf '%02d' $((PASSED + 1)))-$STEP.out"
    local rc=0
    timeout "$ZKCLI_TIMEOUT" "$ZKCLI" -server "$ZK_HOSTS" "$@" >"$OUT" 2>&1 || rc=$?
    [[ $rc -ne 124 ]] || fail "zkCli did not finish within ${ZKCLI_TIMEOUT}s"
    [[ $rc -eq $want ]] || fail "'$*' exited $rc, expected $want"
}

# expect REGEX...: each regex must match a whole line of the step's output,
# in this order (other lines may come between them)
expect() {
    local -a lines
    mapfile -t lines <"$OUT"
    local i=0 pat found
    for pat in "$@"; do
        found=0
        while ((i < ${#lines[@]})); do
            if [[ ${lines[i]} =~ ^${pat}$ ]]; then found=1; i=$((i + 1)); break; fi
            i=$((i + 1))
        done
        ((found)) || fail "no line matching /^${pat}\$/ (in order after the previous expectation)"
    done
}

# expect_anywhere REGEX...: each regex matches some whole line, any order
expect_anywhere() {
    local pat
    for pat in "$@"; do
        grep -Eq "^${pat}\$" "$OUT" || fail "no line matching /^${pat}\$/"
    done
}

# reject REGEX...: no line of the step's output may match
reject() {
    local pat
    for pat in "$@"; do
        if grep -Eq "^${pat}\$" "$OUT"; then fail "unexpected line matching /^${pat}\$/"; fi
    done
}

ok() {
    PASSED=$((PASSED + 1))
    echo "zkcli: ok $PASSED - $STEP"
}

digest_of() { # user:password -> base64(sha1(user:password)), as ZooKeeper computes it
    python3 -c 'import base64,hashlib,sys; print(base64.b64encode(hashlib.sha1(sys.argv[1].encode()).digest()).decode())' "$1"
}

R=$ROOT
Rre=${ROOT//\//\\/} # for regexes (no special chars besides '/' and '-')
HEX='0x[0-9a-f]+'
echo "zkcli: zkCli.sh against $ZK_HOSTS under $ROOT"

# ---------------------------------------------------------------- create/get
session create-get <<EOF
create $R rootdata
create $R/a hello
create -s $R/s- seqdata
create -s $R/s- seqdata2
create -s -e $R/es- ephdata
create -e $R/eph e1
create -c $R/cont
get $R/a
get -s $R/a
stat $R/eph
ls $R
ls -s $R
getEphemerals $R/e
whoami
EOF
# getEphemerals matches by plain string prefix ("$R/e" matches "$R/eph"), in
# no particular order; whoami (opcode 107) lists the session's identities
expect \
    "Created $Rre" \
    "Created $Rre/a" \
    "Created $Rre/s-0000000001" \
    "Created $Rre/s-0000000002" \
    "Created $Rre/es-0000000003" \
    "Created $Rre/eph" \
    "Created $Rre/cont" \
    "hello" \
    "hello" \
    "cZxid = $HEX" "ctime = .*" "mZxid = $HEX" "mtime = .*" "pZxid = $HEX" \
    "cversion = 0" "dataVersion = 0" "aclVersion = 0" "ephemeralOwner = 0x0" \
    "dataLength = 5" "numChildren = 0" \
    "ephemeralOwner = 0x[1-9a-f][0-9a-f]*" "dataLength = 2" "numChildren = 0" \
    "\[a, cont, eph, es-0000000003, s-0000000001, s-0000000002\]" \
    "\[a, cont, eph, es-0000000003, s-0000000001, s-0000000002\]" \
    "cversion = 6" "dataVersion = 0" "aclVersion = 0" "ephemeralOwner = 0x0" \
    "dataLength = 8" "numChildren = 6" \
    "\[($Rre/eph, $Rre/es-0000000003|$Rre/es-0000000003, $Rre/eph)\]"
expect_anywhere "Auth scheme: User" "ip: .+"
ok

# the same stat fields twice must agree: czxid == mzxid == pzxid on a fresh node
cz=$(grep -m1 '^cZxid' "$OUT" | awk '{print $3}')
mz=$(grep -m1 '^mZxid' "$OUT" | awk '{print $3}')
pz=$(grep -m1 '^pZxid' "$OUT" | awk '{print $3}')
STEP=fresh-zxids
[[ $cz == "$mz" && $cz == "$pz" ]] || fail "fresh node: cZxid=$cz mZxid=$mz pZxid=$pz differ"
ok

# ---------------------------------------------------------------- set / versions / errors
session set-delete <<EOF
sync $R
set $R/a world
set -v 0 $R/a stale
set -s -v 1 $R/a again
get -s $R/a
delete $R
delete -v 3 $R/s-0000000001
delete -v 0 $R/s-0000000001
create $R/a dup
create $R/missing/child
get $R/missing
set $R/missing x
delete $R/missing
ls $R
EOF
expect \
    "Sync is OK" \
    "version No is not valid : $Rre/a" \
    "dataVersion = 2" \
    "again" \
    "dataVersion = 2" "aclVersion = 0" "ephemeralOwner = 0x0" "dataLength = 5" \
    "Node not empty: $Rre" \
    "version No is not valid : $Rre/s-0000000001" \
    "Node already exists: $Rre/a" \
    "Node does not exist: $Rre/missing/child" \
    "Node does not exist: $Rre/missing" \
    "Node does not exist: $Rre/missing" \
    "Node does not exist: $Rre/missing" \
    "\[a, cont, s-0000000002\]"
ok

# ---------------------------------------------------------------- ephemerals gone with their session
# (the first step's session closed, so its two ephemerals went with it)
session ephemerals-gone <<EOF
sync $R
ls $R
stat $R/eph
stat $R/es-0000000003
EOF
expect \
    "Sync is OK" \
    "\[a, cont, s-0000000002\]" \
    "Node does not exist: $Rre/eph" \
    "Node does not exist: $Rre/es-0000000003"
ok

# ---------------------------------------------------------------- arguments mode and exit codes
one_shot args-get 0 get "$R/a"
expect "again"
ok
one_shot args-get-missing 1 get "$R/nope"
expect "Node does not exist: $Rre/nope"
ok
one_shot args-create-dup 1 create "$R/a"
expect "Node already exists: $Rre/a"
ok

# ---------------------------------------------------------------- watches
session watches <<EOF
sync $R
get -w $R/a
ls -w $R
stat -w $R/later
set $R/a watched
create $R/later
set $R/a again-no-watch
EOF
expect_anywhere \
    "WatchedEvent state:SyncConnected type:NodeDataChanged path:$Rre/a" \
    "WatchedEvent state:SyncConnected type:NodeCreated path:$Rre/later" \
    "WatchedEvent state:SyncConnected type:NodeChildrenChanged path:$Rre"
[[ $(grep -c 'type:NodeDataChanged' "$OUT") -eq 1 ]] || fail "data watch fired more than once"
ok

# ---------------------------------------------------------------- ACLs
D1="user1:$(digest_of user1:pw1)"
D2="user2:$(digest_of user2:pw2)"
D1re=${D1//+/\\+}
D1re=${D1re//\//\\/}
D2re=${D2//+/\\+}
D2re=${D2re//\//\\/}
session acl-set <<EOF
sync $R
getAcl $R/a
addauth digest user1:pw1
create $R/secret topsecret
setAcl $R/secret auth:user1:pw1:cdrwa
getAcl $R/secret
get $R/secret
create $R/ro readonly
setAcl $R/ro world:anyone:r
getAcl $R/ro
set $R/ro changed
create $R/ro/kid
get $R/ro
create $R/d2 for-user2
setAcl $R/d2 digest:$D2:rwa
get $R/d2
getAcl $R/d2
stat $R/d2
EOF
# a refused create names the node it would have made (.../ro/kid); getAcl
# needs READ or ADMIN; exists (stat) needs nothing
expect \
    "Sync is OK" \
    "'world,'anyone" ": cdrwa" \
    "Created $Rre/secret" \
    "'digest,'$D1re" ": cdrwa" \
    "topsecret" \
    "Created $Rre/ro" \
    "'world,'anyone" ": r" \
    "Insufficient permission : $Rre/ro" \
    "Insufficient permission : $Rre/ro/kid" \
    "readonly" \
    "Created $Rre/d2" \
    "Insufficient permission : $Rre/d2" \
    "Insufficient permission : $Rre/d2" \
    "aclVersion = 1" "ephemeralOwner = 0x0" "dataLength = 9"
ok

session acl-check <<EOF
sync $R
get $R/secret
getAcl $R/secret
stat $R/secret
addauth digest user1:wrong
get $R/secret
addauth digest user2:pw2
get $R/d2
getAcl $R/d2
set $R/d2 by-user2
addauth digest user1:pw1
get $R/secret
get $R/d2
whoami
EOF
# a wrong password is not an error: it only adds an identity that matches
# nothing; identities accumulate on the session
expect \
    "Sync is OK" \
    "Insufficient permission : $Rre/secret" \
    "Insufficient permission : $Rre/secret" \
    "aclVersion = 1" "ephemeralOwner = 0x0" "dataLength = 9" \
    "Insufficient permission : $Rre/secret" \
    "for-user2" \
    "'digest,'$D2re" ": rwa" \
    "topsecret" \
    "by-user2"
expect_anywhere "Auth scheme: User" "digest: user1" "digest: user2"
ok

# ---------------------------------------------------------------- deleteall
session deleteall <<EOF
sync $R
create $R/tree
create $R/tree/x
create $R/tree/x/y
create $R/tree/z
ls -R $R/tree
deleteall $R/tree
stat $R/tree
addauth digest user1:pw1
addauth digest user2:pw2
deleteall $R
stat $R
EOF
expect \
    "Sync is OK" \
    "$Rre/tree" "$Rre/tree/x" "$Rre/tree/z" "$Rre/tree/x/y" \
    "Node does not exist: $Rre/tree" \
    "Node does not exist: $Rre"
reject "Insufficient permission : .*"
ok

ROOT="" # nothing left to clean up
echo "zkcli: $PASSED passed, 0 failed"
