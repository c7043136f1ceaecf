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
    // A root not seen before: the signature is checked (a batch of one, or the first
    // envelope of a batch to arrive).
    group.bench_function("verify_and_decode", |b| {
        b.iter_batched(
            || signer.sign(&notice()).expect("fits"),
            |signed| verifier.verify(&signed, now).expect("verifies"),
            BatchSize::SmallInput,
        )
    });
    // A root verified already (issue 16): the path and the decoding only.
    group.bench_function("verify_and_decode_cached_root", |b| {
        b.iter(|| verifier.verify(&signed, now).expect("verifies"))
    });
    for size in [64usize, 128, 256, 512] {
        let bytes = |n| (0..n).map(|_| notice().encode_to_vec()).collect::<Vec<_>>();
        group.throughput(Throughput::Elements(size as u64));
        // Signing a round's envelopes together: one signature and the tree.
        group.bench_function(format!("sign_batch_{size}"), |b| {
            b.iter_batched(
                || bytes(size),
                |envelopes| signer.sign_batch(envelopes).expect("fits"),
                BatchSize::SmallInput,
            )
        });
        // Envelopes signed one by one, roots not seen before: batch verification gets
        // cheaper per signature as batches grow, how much.
        group.bench_function(format!("verify_batch_{size}"), |b| {
            b.iter_batched(
                || {
                    (0..size)
                        .map(|_| signer.sign(&notice()).expect("fits"))
                        .collect::<Vec<_>>()
                },
                |batch| {
                    let results = verifier.verify_batch(&batch, now);
                    assert!(results.iter().all(Result::is_ok));
                    results
                },
                BatchSize::SmallInput,
            )
        });
        // The same number signed together by their origin, root not seen before: one
        // signature check and a path per envelope.
        group.bench_function(format!("verify_batch_signed_together_{size}"), |b| {
            b.iter_batched(
                || signer.sign_batch(bytes(size)).expect("fits"),
                |batch| {
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
