//! Bearer verification: a cold ECDSA P-256 verification against a repeated token answered from
//! the verified-token cache. `cargo bench --bench bearer`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use motcua::tokens::{Keyring, Tokens};
use time::OffsetDateTime;

fn bearer(c: &mut Criterion) {
    motcua::startup::install_crypto_provider();
    let tokens = Tokens::new(
        Keyring::ephemeral().expect("key"),
        "https://api.example.gov.vn",
        Duration::from_secs(600),
    );
    let mut claims = tokens.access_claims(
        "0193a5c4-7c1e-7d3a-9f55-3f1b2b7d9e10",
        "mc_3k9x2m4q8w7e5r1t6y0u2i4o",
        "openid profile offline_access",
        OffsetDateTime::now_utc(),
    );
    claims.sid = Some("f0b1c2d3-0000-4000-8000-000000000001".into());
    claims.acr = Some(motcua::tokens::Level::Two);
    let token = tokens.sign_access(&claims).expect("signed");

    let mut group = c.benchmark_group("bearer_verification");
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("cold_ecdsa", |b| {
        b.iter(|| tokens.verify_access(black_box(&token)).expect("valid"))
    });
    tokens.verify_access_cached(&token).expect("valid");
    group.bench_function("cached", |b| {
        b.iter(|| {
            tokens
                .verify_access_cached(black_box(&token))
                .expect("valid")
        })
    });
    group.finish();
}

criterion_group!(benches, bearer);
criterion_main!(benches);
