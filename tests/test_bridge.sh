#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# chan-bridge end to end: a real nats-server with JetStream on a loopback
# port, two chand daemons on private sockets standing for two hosts, a
# bridge for each, and the CLIs as producers and consumers.
#
# usage: test_bridge.sh CHAND CHAN_SEND CHAN_RECV CHANCTL CHAN_BRIDGE BRIDGE_RECV
# (BRIDGE_RECV: tests/bridge_recv.c, a consumer printing each message's
# redelivered mark.) Exits 77 (skipped) when nats-server is not installed.
set -uo pipefail

CHAND=$1 SEND=$2 RECV=$3 CHANCTL=$4 BRIDGE=$5 MRECV=$6
NATS=$(command -v nats-server || true)
if [ -z "$NATS" ]; then
	echo "SKIP: nats-server is not installed (Debian: apt-get install" \
	    "nats-server); chan-bridge is not tested"
	exit 77
fi

dir=$(mktemp -d /tmp/chan-bridge-test.XXXXXX)
pids=()
failures=0

# On failure, every log: a sanitizer's report whole (it runs past any
# tail), the rest of a log's last lines.
show_logs() {
	local f
	for f in "$dir"/*.log; do
		[ -f "$f" ] || continue
		if grep -q -E "^==[0-9]+==ERROR|runtime error:" "$f"; then
			echo "== $f: sanitizer report"
			sed -n -E '/^==[0-9]+==ERROR|runtime error:/,$p' "$f" |
			    head -300
		else
			echo "== $f: last lines"
			tail -40 "$f"
		fi
	done
}

cleanup() {
	local rc=$? p
	for p in "${pids[@]}"; do
		kill -9 "$p" 2>/dev/null
	done
	wait 2>/dev/null
	[ "$rc" = 0 ] || show_logs
	if [ -n "${KEEP:-}" ]; then echo "kept $dir"; else rm -rf "$dir"; fi
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*"
	failures=$((failures + 1))
}

pass() {
	echo "ok: $*"
}

# Polls COMMAND until it succeeds, at most SECONDS (default 20).
wait_for() {
	local secs=$1 i
	shift
	for ((i = 0; i < secs * 20; i++)); do
		"$@" && return 0
		sleep 0.05
	done
	return 1
}

lines() {
	[ -f "$1" ] && wc -l < "$1" || echo 0
}

has_lines() {
	[ "$(lines "$1")" -ge "$2" ]
}

# --- NATS server ----------------------------------------------------------

nats_start() {
	local port=${1:--1}
	: > "$dir/nats.log"
	"$NATS" -a 127.0.0.1 -p "$port" -js -sd "$dir/js" \
	    > "$dir/nats.log" 2>&1 &
	nats_pid=$!
	pids+=("$nats_pid")
	wait_for 20 grep -q "Server is ready" "$dir/nats.log" || {
		echo "nats-server did not start:"; cat "$dir/nats.log"; exit 1
	}
	nats_port=$(sed -n 's/.*Listening for client connections on 127.0.0.1:\([0-9]*\).*/\1/p' \
	    "$dir/nats.log")
}

nats_start
url="nats://127.0.0.1:$nats_port"
echo "nats-server on $url"

# --- two hosts --------------------------------------------------------------

chand_start() {	# HOST
	local sock=$dir/$1.sock
	"$CHAND" --socket "$sock" --log-level warning \
	    > "$dir/chand-$1.log" 2>&1 &
	pids+=($!)
	wait_for 20 "$CHANCTL" --socket "$sock" status >/dev/null 2>&1 || {
		echo "chand $1 did not start"; cat "$dir/chand-$1.log"; exit 1
	}
}

chand_start A
chand_start B
SA=$dir/A.sock
SB=$dir/B.sock

# bridge_start HOST NAME ARGS...: starts a bridge, waits for READY on its
# ready pipe (or for its exit); sets bridge_pid, bridge_rc (empty: running).
bridge_start() {
	local host=$1 name=$2
	shift 2
	rm -f "$dir/ready-$name"
	"$BRIDGE" --url "$url" --socket "$dir/$host.sock" --host "$host" \
	    --lease 3 --ack-wait 5 --ready-fd 3 ${BRIDGE_ARGS:-} "$@" 3> "$dir/ready-$name" \
	    >> "$dir/bridge-$name.log" 2>&1 &
	bridge_pid=$!
	bridge_rc=
	pids+=("$bridge_pid")
	if ! wait_for 30 bridge_settled "$name"; then
		echo "bridge $name neither ready nor stopped"
		cat "$dir/bridge-$name.log"
		exit 1
	fi
}

bridge_settled() {
	if grep -q READY=1 "$dir/ready-$1" 2>/dev/null; then
		return 0
	fi
	if ! kill -0 "$bridge_pid" 2>/dev/null; then
		wait "$bridge_pid"
		bridge_rc=$?
		return 0
	fi
	return 1
}

# An importer restarted after a SIGKILL finds the dead one's lock until
# the lease expires, and an exporter may find the dead one still the
# channel's consumer until chand has seen it go: refused (exit 6) until
# then.
bridge_start_retry() {
	local i
	for ((i = 0; i < 20; i++)); do
		bridge_start "$@"
		[ "$bridge_rc" != 6 ] && return 0
		wait_for 1 false
	done
	echo "bridge $2 refused for too long"
	exit 1
}

alive() {
	kill -0 "$1" 2>/dev/null
}

# field SOCKET CHANNEL NAME: a number from chanctl's view of the channel.
field() {
	"$CHANCTL" --socket "$1" --json channels 2>/dev/null |
	    sed 's/{"name":/\n&/g' | grep "^{\"name\":\"$2\"," |
	    grep -o "\"$3\":[0-9]*" | head -1 | cut -d: -f2
}

# --- configuration errors -----------------------------------------------------

printf 'import = x\nlease = soon\n' > "$dir/bad.conf"
"$BRIDGE" --config "$dir/bad.conf" > /dev/null 2> "$dir/bad.err"
rc=$?
[ "$rc" = 2 ] && grep -q "bad.conf:2: lease: 'soon' is not a number" "$dir/bad.err" &&
    pass "a bad configuration line: exit 2, $(cat "$dir/bad.err")" ||
    fail "bad configuration: exit $rc, $(cat "$dir/bad.err")"
"$BRIDGE" --url "$url" > /dev/null 2>&1
rc=$?
[ "$rc" = 2 ] || fail "no channel to bridge: exit $rc, not 2"
"$BRIDGE" --url "$url" --export 'job*' --import jobs > /dev/null 2> "$dir/both.err"
rc=$?
[ "$rc" = 2 ] && grep -q "'jobs' is both exported and imported" "$dir/both.err" ||
    fail "a name both imported and exported by a pattern: exit $rc, $(cat "$dir/both.err")"

# --- 0: README's examples, producer on A, consumer on B ----------------------

ALL_EXPORTS="--export answer --export nums --export t1 --export t2 --export t3 --export t4 --export t8"
ALL_IMPORTS="--import answer --import nums --import t1 --import t2 --import t3 --import t4 --import t8"
bridge_start A a1 $ALL_EXPORTS
a1=$bridge_pid
bridge_start B b1 $ALL_IMPORTS
b1=$bridge_pid

"$RECV" --socket "$SB" answer > "$dir/out0a" &
recv0=$!
pids+=("$recv0")
"$SEND" --socket "$SA" answer 10 || fail "t0: chan-send answer 10"
wait "$recv0"
rc=$?
[ "$rc" = 0 ] && [ "$(cat "$dir/out0a")" = 10 ] &&
    pass "t0: chan-send answer 10 on A, chan-recv answer on B: 10, exit 0" ||
    fail "t0: chan-recv answer: exit $rc, '$(cat "$dir/out0a")'"
seq 1 9 | "$SEND" --socket "$SA" nums || fail "t0: chan-send nums"
"$RECV" --socket "$SB" --follow nums > "$dir/out0b"
rc=$?
[ "$rc" = 0 ] && seq 1 9 | cmp -s - "$dir/out0b" &&
    pass "t0: seq 1 9 | chan-send nums on A, chan-recv --follow nums on B: 1..9, exit 0" ||
    fail "t0: chan-recv --follow nums: exit $rc"
# A further receive: the same exit code as on one host (a local channel
# of A, the same steps).
seq 1 9 | "$SEND" --socket "$SA" numsl || fail "t0: chan-send numsl"
"$RECV" --socket "$SA" --follow numsl > /dev/null || fail "t0: local --follow"
"$RECV" --socket "$SA" -t 1 numsl > /dev/null 2>&1
want=$?
"$RECV" --socket "$SB" -t 1 nums > /dev/null 2>&1
rc=$?
[ "$rc" = "$want" ] && pass "t0: a further chan-recv -t 1 nums: exit $rc, as on one host" ||
    fail "t0: a further chan-recv -t 1 nums exited $rc, on one host $want"

# --- 1: order per producer, drain then disconnected -------------------------

[ -z "$bridge_rc" ] || { cat "$dir/bridge-b1.log"; exit 1; }

"$RECV" --socket "$SB" -f t1 > "$dir/out1" 2> "$dir/err1" &
recv1=$!
pids+=("$recv1")
mkfifo "$dir/fifo1"
"$SEND" --socket "$SA" t1 < "$dir/fifo1" &
send1=$!
pids+=("$send1")
exec 5> "$dir/fifo1"
echo x0 >&5
seq 1 2000 | sed 's/^/y/' | "$SEND" --socket "$SA" t1 || fail "chan-send y"
for i in $(seq 1 500); do echo "x$i"; done >&5
wait_for 20 has_lines "$dir/out1" 2501 || fail "t1: $(lines "$dir/out1") of 2501 lines arrived"
alive "$recv1" || fail "t1: consumer ended while a remote producer was live"
exec 5>&-
wait "$send1" || fail "t1: chan-send x failed"
if wait_for 20 bash -c "! kill -0 $recv1 2>/dev/null"; then
	wait "$recv1"
	rc=$?
	[ "$rc" = 0 ] || fail "t1: chan-recv -f exited $rc, not 0"
else
	fail "t1: chan-recv -f did not end after every remote producer left"
fi
grep '^x' "$dir/out1" | sed 's/^x//' > "$dir/x1"
grep '^y' "$dir/out1" | sed 's/^y//' > "$dir/y1"
seq 0 500 | cmp -s - "$dir/x1" || fail "t1: producer x out of order or incomplete"
seq 1 2000 | cmp -s - "$dir/y1" || fail "t1: producer y out of order or incomplete"
[ "$(lines "$dir/out1")" = 2501 ] && pass "t1: two producers, each in order, then drained and disconnected (exit 0)"

# A second importer of the stream is refused with the holder's pid.
bridge_start A a1b --import t1
if [ "$bridge_rc" = 6 ] && grep -q "already has an importer (host=B pid=$b1)" \
    "$dir/bridge-a1b.log"; then
	pass "second importer refused: $(grep -o 'stream .*' "$dir/bridge-a1b.log" | head -1)"
else
	fail "second importer: exit '$bridge_rc'"; cat "$dir/bridge-a1b.log"
fi

# --- 2: SIGKILL of a remote producer ------------------------------------------

"$RECV" --socket "$SB" -f t2 > "$dir/out2" 2> "$dir/err2" &
recv2=$!
pids+=("$recv2")
mkfifo "$dir/fifo2"
"$SEND" --socket "$SA" t2 < "$dir/fifo2" &
send2=$!
pids+=("$send2")
exec 6> "$dir/fifo2"
seq 1 100 >&6
wait_for 20 has_lines "$dir/out2" 100 || fail "t2: $(lines "$dir/out2") of 100 arrived"
alive "$recv2" || fail "t2: consumer ended early"
kill -9 "$send2"
if wait_for 20 bash -c "! kill -0 $recv2 2>/dev/null"; then
	wait "$recv2"
	rc=$?
	[ "$rc" = 0 ] || fail "t2: chan-recv -f exited $rc"
	seq 1 100 | cmp -s - "$dir/out2" && pass "t2: producer killed: its 100 confirmed messages, then disconnected" ||
	    fail "t2: output differs"
else
	fail "t2: consumer not disconnected after the remote producer was killed"
fi
exec 6>&-

# --- 3: SIGKILL of the exporting bridge and of nats-server mid-stream -----

N=20000
f3=$failures
redeliv0=$(field "$SA" t3 redeliveries)
# The consumer prints "MESSAGE MARK" (MARK 1: marked redelivered). It
# follows across disconnections (--forever): a NATS outage longer than
# the lease (a slow restart) ends the exporter's live generation on B
# until its next message (docs/bridge.md, t8).
"$MRECV" -F "$SB" t3 > "$dir/out3m" 2> "$dir/err3" &
recv3=$!
pids+=("$recv3")
seq 1 $N | "$SEND" --socket "$SA" t3 &
send3=$!
pids+=("$send3")
wait_for 30 has_lines "$dir/out3m" 2000 || fail "t3: stream did not start"
kill -9 "$a1"
bridge_start_retry A a3 $ALL_EXPORTS
a1=$bridge_pid
wait_for 30 has_lines "$dir/out3m" 8000 || fail "t3: stream stalled after the exporter restart"
kill -9 "$nats_pid"
wait "$nats_pid" 2>/dev/null
nats_start "$nats_port"
wait "$send3" || fail "t3: chan-send did not confirm everything"
all3() { [ "$(cut -d' ' -f1 "$dir/out3m" | sort -n -u | wc -l)" -ge $N ]; }
wait_for 40 all3 || fail "t3: $(cut -d' ' -f1 "$dir/out3m" | sort -n -u | wc -l) of $N arrived"
# Then every remote producer ends and B's channel drains: disconnected.
ended3() {
	[ "$(field "$SB" t3 producers)" = 0 ] &&
	    [ "$(field "$SB" t3 queued)" = 0 ] &&
	    [ "$(field "$SB" t3 in_flight)" = 0 ]
}
wait_for 40 ended3 || fail "t3: B's channel not drained and disconnected: $(field "$SB" t3 producers) producer(s), $(field "$SB" t3 queued) queued, $(field "$SB" t3 in_flight) in flight"
alive "$recv3" || fail "t3: the consumer (--forever) ended"
kill "$recv3"
cut -d' ' -f1 "$dir/out3m" > "$dir/out3"
# Every copy after a message's first arrives marked redelivered.
unmarked=$(awk 'seen[$1]++ && $2 != 1 { n++ } END { print n + 0 }' "$dir/out3m")
marked=$(awk '$2 == 1 { n++ } END { print n + 0 }' "$dir/out3m")
[ "$unmarked" = 0 ] || fail "t3: $unmarked duplicate(s) reached the consumer unmarked"
# Nothing confirmed is lost; anything sent twice comes again only after
# its first copy, and the bridges counted it as redelivered.
sort -n -u "$dir/out3" | cmp -s - <(seq 1 $N) || fail "t3: messages lost"
dups=$(( $(lines "$dir/out3") - $(sort -n -u "$dir/out3" | wc -l) ))
awk 'BEGIN { m = 0; bad = 0 } { if ($1 > m + 1 && m > 0) bad++; if ($1 > m) m = $1 } END { exit bad > 0 }' \
    "$dir/out3" || fail "t3: a message overtook an earlier one"
# Every duplicate is one chand A delivered again to the restarted
# exporting bridge (which published it marked Chan-Redelivered).
redeliv=$(( $(field "$SA" t3 redeliveries) - redeliv0 ))
[ "$dups" -le "$redeliv" ] ||
    fail "t3: $dups duplicates, but chand A redelivered only $redeliv"
[ "$marked" -le "$redeliv" ] ||
    fail "t3: $marked marked redelivered, but chand A redelivered only $redeliv"
[ "$failures" = "$f3" ] && pass "t3: exporter and nats-server killed mid-stream: all $N confirmed messages arrived, $dups duplicate(s), each marked redelivered ($marked marked; chand A redelivered $redeliv to the new exporter), then B's channel disconnected"

# --- 4: SIGKILL of the importing bridge mid-stream --------------------------

f4=$failures
# The importer's own local producers go with it, so the consumer here
# follows across disconnections (--forever) and stops once it has all.
"$MRECV" -F "$SB" t4 > "$dir/out4m" 2> "$dir/err4" &
recv4=$!
pids+=("$recv4")
seq 1 $N | "$SEND" --socket "$SA" t4 &
send4=$!
pids+=("$send4")
wait_for 30 has_lines "$dir/out4m" 3000 || fail "t4: stream did not start"
kill -9 "$b1"
bridge_start_retry B b4 $ALL_IMPORTS
b1=$bridge_pid
wait "$send4" || fail "t4: chan-send did not confirm everything"
all4() { [ "$(cut -d' ' -f1 "$dir/out4m" | sort -n -u | wc -l)" -ge $N ]; }
wait_for 40 all4 || fail "t4: $(cut -d' ' -f1 "$dir/out4m" | sort -n -u | wc -l) of $N arrived"
kill "$recv4"
cut -d' ' -f1 "$dir/out4m" > "$dir/out4"
# What the killed importer may have sent comes again marked.
unmarked=$(awk 'seen[$1]++ && $2 != 1 { n++ } END { print n + 0 }' "$dir/out4m")
marked=$(awk '$2 == 1 { n++ } END { print n + 0 }' "$dir/out4m")
[ "$unmarked" = 0 ] || fail "t4: $unmarked duplicate(s) reached the consumer unmarked"
sort -n -u "$dir/out4" | cmp -s - <(seq 1 $N) || fail "t4: messages lost"
dups=$(( $(lines "$dir/out4") - $(sort -n -u "$dir/out4" | wc -l) ))
[ "$failures" = "$f4" ] && pass "t4: importer killed mid-stream: all $N confirmed messages arrived, $dups duplicate(s), $marked marked redelivered"

# --- 8: an exporting bridge alive past its lease -----------------------------

# Stopped (SIGSTOP) for longer than its lease, the exporting bridge renews
# nothing, so the importer ends its generation; once it runs again it goes
# on publishing that generation's messages. None of them may be taken for
# a duplicate: the consumer sees the channel disconnected (as
# docs/bridge.md says of a NATS outage longer than the lease), then the
# rest, and follows across (--forever) as such a consumer must.
f8=$failures
"$MRECV" -F "$SB" t8 > "$dir/out8m" 2> "$dir/err8" &
recv8=$!
pids+=("$recv8")
mkfifo "$dir/fifo8"
"$SEND" --socket "$SA" t8 < "$dir/fifo8" &
send8=$!
pids+=("$send8")
exec 7> "$dir/fifo8"
seq 1 100 >&7
wait_for 30 has_lines "$dir/out8m" 100 || fail "t8: $(lines "$dir/out8m") of the first 100 arrived"
kill -STOP "$a1"
expired8() { cat "$dir"/bridge-b*.log | grep -q "'t8': remote producer .* expired"; }
wait_for 30 expired8 || fail "t8: the stopped exporter's lease did not expire"
kill -CONT "$a1"
seq 101 200 >&7
exec 7>&-
wait "$send8" || fail "t8: chan-send did not confirm everything"
all8() { [ "$(cut -d' ' -f1 "$dir/out8m" | sort -n -u | wc -l)" -ge 200 ]; }
wait_for 40 all8 || fail "t8: $(cut -d' ' -f1 "$dir/out8m" | sort -n -u | wc -l) of 200 arrived"
kill "$recv8"
cut -d' ' -f1 "$dir/out8m" > "$dir/out8"
sort -n -u "$dir/out8" | cmp -s - <(seq 1 200) || fail "t8: messages lost"
cmp -s "$dir/out8" <(seq 1 200) || fail "t8: duplicates or out of order: $(tr '\n' ' ' < "$dir/out8" | head -c 300)"
[ "$failures" = "$f8" ] && pass "t8: exporter stopped past its lease, then resumed: all 200 in order, none twice"

# --- 5: a bounded channel across the hop -------------------------------------

# Both ends full and the producer held: the stream between them is full
# too, or the importer would have taken more.
stalled() {
	[ "$(field "$SA" t5 queued)" = 20 ] &&
	    [ "$(field "$SA" t5 held)" -gt 0 ] 2>/dev/null &&
	    [ "$(field "$SB" t5 queued)" = 10 ]
}

# Stream of at most 50 messages, imported channel of 10, exported channel
# of 20, batches of 16, no consumer yet.
bridge_start A a5 --export t5 --max-msgs 50 --batch 16 --capacity 20
# Host B's options from a configuration file.
cat > "$dir/b5.conf" <<CONF
# host B
import = t5
max-msgs = 50   # the stream's capacity
batch = 16
capacity = 10
CONF
bridge_start B b5 --config "$dir/b5.conf"
[ -z "$bridge_rc" ] || fail "t5: bridge with a config file exited $bridge_rc"
seq 1 1000 | "$SEND" --socket "$SA" t5 &
send5=$!
pids+=("$send5")
if wait_for 30 stalled && alive "$send5"; then
	pass "t5: backpressure across the hop: channel A full (20, producer held), B full (10), $(field "$SB" t5 msgs_in) in B"
else
	fail "t5: no backpressure: A queued $(field "$SA" t5 queued) held $(field "$SA" t5 held), B queued $(field "$SB" t5 queued)"
fi
"$RECV" --socket "$SB" -f t5 > "$dir/out5" 2>/dev/null
rc=$?
[ "$rc" = 0 ] || fail "t5: chan-recv -f exited $rc"
wait "$send5" || fail "t5: chan-send failed"
seq 1 1000 | cmp -s - "$dir/out5" && pass "t5: then all 1000 in order" ||
    fail "t5: output not 1..1000 ($(lines "$dir/out5") lines)"

# --- 6: channels chosen by a name pattern -------------------------------------

# Two channels on A before the bridges start, exported by one option and
# imported by one line of B's configuration file; a third created while
# they run is found within a scan (a second) on each side.
f6=$failures
seq 1 5 | "$SEND" --socket "$SA" jobA || fail "t6: chan-send jobA"
seq 6 10 | "$SEND" --socket "$SA" jobB || fail "t6: chan-send jobB"
bridge_start A a6 --export 'job*'
[ -z "$bridge_rc" ] || fail "t6: exporting bridge exited $bridge_rc"
a6=$bridge_pid
printf 'import = job*\n' > "$dir/b6.conf"
bridge_start B b6 --config "$dir/b6.conf"
[ -z "$bridge_rc" ] || fail "t6: importing bridge exited $bridge_rc"
b6=$bridge_pid
"$RECV" --socket "$SB" -f -t 20 jobA > "$dir/out6a" 2>&1
rc=$?
[ "$rc" = 0 ] && seq 1 5 | cmp -s - "$dir/out6a" ||
    fail "t6: chan-recv -f jobA on B: exit $rc, $(tr '\n' ' ' < "$dir/out6a")"
"$RECV" --socket "$SB" -f -t 20 jobB > "$dir/out6b" 2>&1
rc=$?
[ "$rc" = 0 ] && seq 6 10 | cmp -s - "$dir/out6b" ||
    fail "t6: chan-recv -f jobB on B: exit $rc, $(tr '\n' ' ' < "$dir/out6b")"
seq 11 13 | "$SEND" --socket "$SA" jobC || fail "t6: chan-send jobC"
"$RECV" --socket "$SB" -f -t 20 jobC > "$dir/out6c" 2>&1
rc=$?
[ "$rc" = 0 ] && seq 11 13 | cmp -s - "$dir/out6c" ||
    fail "t6: chan-recv -f jobC on B: exit $rc, $(tr '\n' ' ' < "$dir/out6c")"
[ "$failures" = "$f6" ] && pass "t6: 'job*' on both sides: jobA and jobB bridged from the start, jobC once created, each in order, then disconnected (exit 0)"

# --- 7: a stop ---------------------------------------------------------------

# SIGTERM stops a bridge cleanly (exit 0): the exporters of t6, which
# published, and one whose channel never had a message (its JetStream
# context never published asynchronously), with the importer of t6.
f7=$failures
bridge_start A a7 --export idle7
[ -z "$bridge_rc" ] || fail "t7: exporting bridge exited $bridge_rc"
for p in "$bridge_pid" "$a6" "$b6"; do
	kill -TERM "$p"
	if ! wait_for 20 bash -c "! kill -0 $p 2>/dev/null"; then
		fail "t7: bridge $p still running 20 s after SIGTERM"
		continue
	fi
	wait "$p"
	rc=$?
	[ "$rc" = 0 ] || fail "t7: bridge $p exited $rc after SIGTERM"
done
[ "$failures" = "$f7" ] && pass "t7: SIGTERM stops an idle exporter, an exporter that published and an importer, each with exit 0"

for f in "$dir"/bridge-*.log; do
	echo "== $(basename "$f")"
	grep -E "published|imported|refused|importer|expired" "$f"
done
if [ "$failures" -ne 0 ]; then
	echo "$failures failure(s)"
	exit 1
fi
echo "all bridge tests passed"
