#!/bin/bash
# Times submit (with content), vault open, egress verify and audit against real
# `vitrine log serve`, `vitrine intake serve` and three `vitrine keyholder
# serve` processes on 127.0.0.1. bench/vault.sh compares vault open with and
# without the keyholders in one process.
set -e
V=${V:-target/release/vitrine}
V=$(realpath "$V")
D=$(mktemp -d); cd $D
LOGK=$($V log init --origin log.example/b --purpose custody --data log)
AK=$($V key generate analyst.example/a -o a.key)
# One witness: the custody log publishes only checkpoints it cosigned, and
# the endpoint accepts only receipts under such checkpoints.
WK=$($V witness init --name witness.example/b --data w)
$V witness add-log --data w "$LOGK"
$V witness serve --data w --addr 127.0.0.1:0 2> w.err & WP=$!
sleep 1; WURL=$(grep -o 'http://[0-9.:]*' w.err | head -1)
printf 'witness w1 %s %s\nquorum w1\n' "$WK" "$WURL" > witnesses
IK=$($V intake init --name intake.example/b --log http://127.0.0.1:1 --log-key "$LOGK" --witnesses witnesses --data intake)
printf 'receipt,deletion %s\naccess %s\n' "$IK" "$AK" > log/authorized
$V log serve --data log --addr 127.0.0.1:0 --batch-wait-ms 10 --witnesses witnesses 2> log.err & LP=$!
sleep 1; LURL=$(grep -o 'http://[0-9.:]*' log.err | head -1)
sed -i "s#http://127.0.0.1:1#$LURL#" intake/intake.toml
$V intake tenant add t-b --data intake --rate-per-minute 100000 > token
$V intake analyst add "$AK" --data intake
KPS=""
for k in 1 2 3; do   # three keyholders, 2 of 3 open a sample
  KP=$($V keyholder init --data kh$k --name kh$k.example --custody-policy intake/custody.policy --analyst "$AK")
  $V keyholder serve --data kh$k --addr 127.0.0.1:0 2> kh$k.err & KPS="$KPS $!"
  sleep 0.5; KURL=$(grep -o 'http://[0-9.:]*' kh$k.err | head -1)
  $V intake keyholder add "$KP" "$KURL" --data intake
done
$V intake serve --data intake --addr 127.0.0.1:0 2> intake.err & IP=$!
sleep 1; IURL=$(grep -o 'http://[0-9.:]*' intake.err | head -1)
# The endpoint key is pinned outside the egress state directory.
export VITRINE_EGRESS_PIN=$D/pin/egress-endpoint.vkey
$V egress init --state eg --intake $IURL --tenant t-b --token-file token --intake-key "$IK" --log $LURL --log-key "$LOGK" --witnesses witnesses > /dev/null
printf 'id = "b"\n[content]\nkinds = ["elf"]\nconsent = "auto"\n' > eg/policy.toml
N=${N:-20}
for i in $(seq $N); do printf '\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0%s' "$i$RANDOM" > f$i; done
t0=$(date +%s.%N); for i in $(seq $N); do $V submit --state eg f$i > /dev/null; done; t1=$(date +%s.%N)
echo "submit with content: $N in $(echo "$t1 - $t0" | bc) s"
S=$(sha256sum f1 | cut -d' ' -f1)
t0=$(date +%s.%N); for i in 1 2 3 4 5; do $V vault open $S --purpose "bench $i" --key a.key --data intake --out out$i 2>/dev/null; done; t1=$(date +%s.%N)
echo "vault open: 5 in $(echo "$t1 - $t0" | bc) s"
t0=$(date +%s.%N); $V egress verify --state eg; t1=$(date +%s.%N)
echo "egress verify (online): $(echo "$t1 - $t0" | bc) s"
t0=$(date +%s.%N); $V egress audit --state eg > /dev/null; t1=$(date +%s.%N)
echo "egress audit: $(echo "$t1 - $t0" | bc) s"
kill $LP $IP $WP $KPS; wait 2>/dev/null; rm -rf $D
