#!/usr/bin/env bash
# Writes the seed corpora (fuzz/corpus/<target>/) from real inputs: the example configs of
# docs/examples, the import files of tests/data and samples like the unit tests', and (with
# `cargo run -p bluehelm-fuzz-seeds`, stable Rust) the signed envelopes and link frames made
# with the fixture PKI. The committed seeds came from one run of this script; rerunning it
# rewrites the binary seeds with new random message ids.
#   usage: fuzz/seeds.sh [--text-only]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
corpus="$here/corpus"

mkdir -p "$corpus/config_parser" "$corpus/imports"
cp "$root"/docs/examples/*.toml "$corpus/config_parser/"
# Every optional table at once, as docs/operations.md describes them.
cat > "$corpus/config_parser/all-tables.toml" <<'TOML'
node_id = "mission.unmiss"
listen = "0.0.0.0:7400"
storage = "data"
api_socket = "api.sock"
terminal_listen = "127.0.0.1:7500"
metrics_listen = "127.0.0.1:9464"
log_format = "json"
default_route = "gs"

[tls]
certificate = "mission.unmiss.pem"
key = "mission.unmiss.key"
ca = "ca.pem"
crl = "crl.pem"

[[peers]]
node = "gs"
address = "gs.example.org:7400"

[[peers]]
node = "ncb.ke"
address = "[2001:db8::1]:7400"

[routes]
"ncb.*" = "gs"
"ncb.ug" = "ncb.ke"

[groups]
posts = ["mission.unmiss", "ncb.ke"]

[services]
"sltd.check" = "gs"

[limits]
max_frame_bytes = 4194304
queue_quota = 1000
max_peers = 16
custody_log_file_mib = 16

[policy.mission]
publish_notices = false
messages_to = ["hub", "services", "mission-bureaus"]

[policy.missions.UNMISS]
may_address = ["ncb.ke", "ncb.ug"]

[databases]
hub = "gs"
replicate = ["sltd", "smv"]

[audit]
enabled = true
checkpoint_seconds = 60
TOML

# Imports: the first byte picks the database (0 sltd, 1 smv, 2 persons, 3 dna); the
# importing node is ncb.fr.
seed() { { printf "\\x$1"; cat; } > "$corpus/imports/$2"; }
seed 00 sltd.csv < "$root/tests/data/sltd.fr.csv"
seed 01 smv.csv < "$root/tests/data/smv.fr.csv"
seed 01 smv-other-owner.csv < "$root/tests/data/smv.ke.csv"
seed 02 persons.csv <<'CSV'
id,family_name,given_names,date_of_birth,sex,nationalities,place_of_birth,owner_bureau,reported_at,instructions,release_to
FR-1,DUPONT,Jean Marie,1980-04-12,M,"FR, BE",Lyon,ncb.fr,2026-01-02,arrest,"FR,UNMISS"
FR 2,Иванов,Сергей,1980-03,m,RU,,ncb.fr,2026-01-02,locate,
CSV
seed 03 dna.csv <<'CSV'
id,profile,case_reference,owner_bureau,reported_at,instructions,action
FR-DNA-1,"D3S1358=15,16; vWA=17,18; D8S1179=13,14; D21S11=29,30; D18S51=12,15; TH01=6,9.3; FGA=21,24; D1S1656=12,16; D2S441=10,14; D10S1248=13,15; D12S391=18,20; D22S1045=15,16; AMEL=X,Y",2026/17,ncb.fr,2026-03-01T10:00:00Z,contact NCB Paris,
FR-DNA-2,,,ncb.fr,2026-03-01T10:00:00Z,,withdraw
CSV
seed 00 sltd.jsonl <<'JSON'
{"document_number":"X12-345 67","issuing_country":"FR","document_type":"passport","status":"stolen","owner_bureau":"ncb.fr","reported_at":"2026-03-01","instructions":"Seize"}
{"document_number":"Y7654321","issuing_country":"FRA","document_type":"passport","status":"lost","owner_bureau":"ncb.fr","reported_at":"2026-03-02","instructions":"Seize","release_to":"FR"}
JSON
seed 01 smv.jsonl <<'JSON'
{"vin":"vf1-ab","plate":"AB 123","plate_country":"fr","owner_bureau":"ncb.fr","reported_at":"2026-01-02","instructions":"seize"}
{"plate":"CD456","plate_country":"FR","owner_bureau":"ncb.fr","reported_at":"2026-01-02","instructions":"seize","release_to":"FR","action":"withdraw"}
JSON
seed 02 persons.jsonl <<'JSON'
{"id":"FR-1","family_name":"DUPONT","given_names":"Jean","date_of_birth":"1980-03","sex":"M","nationalities":"FR","owner_bureau":"ncb.fr","reported_at":"2026-01-02","instructions":"arrest","release_to":"fr, unmiss"}
{"id":1234,"family_name":"PETROV","place_of_birth":null,"owner_bureau":"ncb.fr","reported_at":"2026-01-02","instructions":"locate"}
JSON

if [[ "${1:-}" != "--text-only" ]]; then
    cargo run --quiet --manifest-path "$here/Cargo.toml" -p bluehelm-fuzz-seeds
fi
ls "$corpus" | while read -r t; do echo "$t: $(ls "$corpus/$t" | wc -l) seeds"; done
