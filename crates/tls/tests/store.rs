//! Loading, identity rules and re-reading of the TLS stores.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use zk_tls::certs::{TestPki, Validity, write_new};
use zk_tls::{IdentityError, IdentityRule, TlsError, TlsFiles, TlsStore};
use zk_transport::PeerId;

fn hosts() -> BTreeMap<PeerId, String> {
    BTreeMap::from([
        (PeerId(1), "10.0.0.1".to_owned()),
        (PeerId(2), "zk2.example".to_owned()),
        (PeerId(3), "127.0.0.1".to_owned()),
    ])
}

fn chain(pem: &str) -> Vec<rustls_pki_types::CertificateDer<'static>> {
    use rustls_pki_types::pem::PemObject;
    rustls_pki_types::CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn strict_rule_reads_the_id_from_the_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new(dir.path(), 3, "127.0.0.1").unwrap();
    let store = TlsStore::load(
        pki.files(PeerId(1)),
        PeerId(1),
        IdentityRule::ServerId,
        hosts(),
    )
    .unwrap();
    let two = chain(&std::fs::read_to_string(pki.files(PeerId(2)).key_store).unwrap());
    assert_eq!(
        store.identify(&two, None).unwrap(),
        (PeerId(2), "server-2.zk-rs.invalid".to_owned())
    );
    assert_eq!(
        store.identify(&two, Some(PeerId(3))),
        Err(IdentityError::Mismatch {
            named: PeerId(2),
            claimed: PeerId(3)
        })
    );
    // A certificate naming two servers is ambiguous; one naming none is nobody's.
    let both = pki
        .ca
        .issue_named(
            PeerId(2),
            &[
                "server-2.zk-rs.invalid".into(),
                "server-3.zk-rs.invalid".into(),
            ],
            Validity::days(1),
        )
        .unwrap();
    assert!(matches!(
        store.identify(&chain(&both), None),
        Err(IdentityError::Ambiguous(_))
    ));
    let none = pki
        .ca
        .issue_named(PeerId(2), &["zk2.example".into()], Validity::days(1))
        .unwrap();
    assert_eq!(
        store.identify(&chain(&none), None),
        Err(IdentityError::NamesNoServer)
    );
    assert_eq!(store.identify(&[], None), Err(IdentityError::NoCertificate));
}

#[test]
fn hostname_rule_checks_the_claimed_servers_host() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new(dir.path(), 0, "127.0.0.1").unwrap();
    let own = pki
        .ca
        .issue_named(PeerId(3), &["127.0.0.1".into()], Validity::days(1))
        .unwrap();
    let own_path = dir.path().join("own.pem");
    write_new(&own_path, &own, true).unwrap();
    let files = TlsFiles {
        key_store: own_path,
        trust_store: dir.path().join("ca.pem"),
    };
    let store = TlsStore::load(files, PeerId(3), IdentityRule::Hostname, hosts()).unwrap();
    let zk2 = pki
        .ca
        .issue_named(PeerId(2), &["zk2.example".into()], Validity::days(1))
        .unwrap();
    let zk2 = chain(&zk2);
    assert_eq!(
        store.identify(&zk2, Some(PeerId(2))).unwrap(),
        (PeerId(2), "zk2.example".to_owned())
    );
    assert_eq!(
        store.identify(&zk2, Some(PeerId(1))),
        Err(IdentityError::WrongHost {
            claimed: PeerId(1),
            host: "10.0.0.1".into()
        })
    );
    assert_eq!(store.identify(&zk2, None), Err(IdentityError::NoClaim));
    assert_eq!(
        store.expected_name(PeerId(2)).unwrap().to_str(),
        "zk2.example"
    );
}

#[test]
fn unusable_stores_are_refused_naming_the_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new(dir.path(), 2, "127.0.0.1").unwrap();
    let load = |files: TlsFiles, me: u64| {
        TlsStore::load(files, PeerId(me), IdentityRule::ServerId, hosts()).unwrap_err()
    };
    let missing = TlsFiles {
        key_store: dir.path().join("nope.pem"),
        trust_store: dir.path().join("ca.pem"),
    };
    let e = load(missing, 1);
    assert!(matches!(e, TlsError::Read { .. }), "{e}");
    assert!(
        e.to_string().contains("ssl.quorum.keyStore.location"),
        "{e}"
    );
    // Server 1's certificate on server 2.
    let e = load(pki.files(PeerId(1)), 2);
    assert!(matches!(e, TlsError::NotOurs { .. }), "{e}");
    // A key store without a key; a trust store that is not PEM.
    let certless = dir.path().join("cert-only.pem");
    write_new(&certless, pki.ca.cert_pem(), false).unwrap();
    let e = load(
        TlsFiles {
            key_store: certless,
            trust_store: dir.path().join("ca.pem"),
        },
        1,
    );
    assert!(
        e.to_string().contains("PRIVATE KEY") || e.to_string().contains("does not name"),
        "{e}"
    );
    let garbage = dir.path().join("garbage.pem");
    write_new(&garbage, "not a certificate\n", false).unwrap();
    let e = load(
        TlsFiles {
            key_store: pki.files(PeerId(1)).key_store,
            trust_store: garbage,
        },
        1,
    );
    assert!(
        e.to_string().contains("ssl.quorum.trustStore.location"),
        "{e}"
    );
}

#[test]
fn reload_picks_up_a_new_file_and_keeps_the_old_one_on_errors() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new(dir.path(), 1, "127.0.0.1").unwrap();
    let files = pki.files(PeerId(1));
    let store = TlsStore::load(files.clone(), PeerId(1), IdentityRule::ServerId, hosts()).unwrap();
    assert!(!store.reload().unwrap(), "nothing changed");
    let fresh = pki
        .ca
        .issue(PeerId(1), "127.0.0.1", Validity::days(2))
        .unwrap();
    std::fs::write(&files.key_store, fresh).unwrap();
    assert!(store.reload().unwrap(), "a new certificate is picked up");
    std::fs::write(&files.key_store, "broken").unwrap();
    assert!(store.reload().is_err(), "a broken file is reported");
    // The store still hands out configurations built on the last good material.
    assert!(store.server_config(&[]).is_ok());
}
