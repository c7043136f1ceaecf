//! Envelope signing and verification cost for a 1 KiB red notice.

use bluehelm_pki::ca::now_unix;
use bluehelm_pki::{CertificateAuthority, EnvelopeVerifier, IssueRequest, Role};
use bluehelm_proto::testing::{node, sample_notice_envelope};
use bluehelm_proto::{Destination, Precedence};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

fn envelope_benches(c: &mut Criterion) {
    let mut ca = CertificateAuthority::generate(365).expect("CA");
    let request = IssueRequest {
        node: node("ncb.fr"),
        role: Role::Ncb,
        country: Some("FR".into()),
        mission: None,
        home: None,
        days: 30,
    };
    let creds = ca
        .issue(&request)
        .expect("issue")
        .credentials()
        .expect("credentials");
    let signer = creds.signer();
    let verifier = EnvelopeVerifier::new(ca.trust_store().expect("trust store"));
    let now = now_unix();
    let notice = || {
        sample_notice_envelope(
            node("ncb.fr"),
            Destination::Node(node("gs")),
            Precedence::Immediate,
            now * 1000,
            1024,
        )
    };
    let envelope = notice();
    let signed = signer.sign(&envelope).expect("fits");
    // Warm the certificate cache, as on a live link.
    verifier.verify(&signed, now).expect("verifies");

    let mut group = c.benchmark_group("envelope_1KiB");
    group.throughput(Throughput::Elements(1));
    group.bench_function("encode_and_sign", |b| {
        b.iter(|| signer.sign(&envelope).expect("fits"))
    });
    group.bench_function("verify_and_decode", |b| {
        b.iter(|| verifier.verify(&signed, now).expect("verifies"))
    });
    // Batch verification gets cheaper per signature as batches grow: how much.
    for size in [64usize, 128, 256, 512] {
        let batch: Vec<_> = (0..size)
            .map(|_| signer.sign(&notice()).expect("fits"))
            .collect();
        group.throughput(Throughput::Elements(size as u64));
        group.bench_function(format!("verify_batch_{size}"), |b| {
            b.iter_batched(
                || (),
                |()| {
                    let results = verifier.verify_batch(&batch, now);
                    assert!(results.iter().all(Result::is_ok));
                    results
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, envelope_benches);
criterion_main!(benches);
