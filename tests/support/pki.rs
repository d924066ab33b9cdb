//! Throwaway certificate authorities and certificates for the TLS tests (rcgen).
//!
//! Files are written as ZooKeeper's PEM key stores want them: a key store is one file
//! with the certificate then the PKCS#8 private key; a trust store is the CA's
//! certificate.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, DnValue, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};

/// A CA that signs server and client certificates.
pub struct Ca {
    pub name: String,
    pub pem: String,
    key_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

/// A leaf certificate with its key, as PEM.
pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, name);
        dn.push(DnType::OrganizationName, "zkd tests");
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).expect("CA certificate");
        Ca {
            name: name.to_string(),
            pem: cert.pem(),
            key_pem: key.serialize_pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A server certificate for localhost and 127.0.0.1.
    pub fn server(&self) -> Leaf {
        let mut params = CertificateParams::new(vec!["localhost".to_string()]).expect("params");
        params
            .subject_alt_names
            .push(SanType::IpAddress("127.0.0.1".parse().expect("ip")));
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        self.sign(params)
    }

    /// A client certificate whose subject has these attributes, in certificate order
    /// (the `x509` identity lists them the other way round).
    pub fn client(&self, subject: &[(DnType, DnValue)]) -> Leaf {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        let mut dn = DistinguishedName::new();
        for (kind, value) in subject {
            dn.push(kind.clone(), value.clone());
        }
        params.distinguished_name = dn;
        self.sign(params)
    }

    /// A client certificate that expired yesterday.
    pub fn expired_client(&self, cn: &str) -> Leaf {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        self.sign(params)
    }

    fn sign(&self, params: CertificateParams) -> Leaf {
        let key = KeyPair::generate().expect("leaf key");
        let cert = params.signed_by(&key, &self.issuer).expect("sign");
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    /// An X.509 **v1** client certificate for `cn`, signed by this CA with the openssl
    /// command line (`openssl x509 -req` without extensions makes v1, which rcgen never
    /// does): what operators get from many older how-tos.
    pub fn v1_client(&self, dir: &Path, cn: &str) -> Leaf {
        let run = |args: &[&str]| {
            let out = std::process::Command::new("openssl")
                .args(args)
                .current_dir(dir)
                .output()
                .expect("run openssl");
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let (ca_cert, ca_key) = (
            format!("{}-v1ca.pem", self.name),
            format!("{}-v1ca.key", self.name),
        );
        std::fs::write(dir.join(&ca_cert), &self.pem).expect("write CA");
        std::fs::write(dir.join(&ca_key), &self.key_pem).expect("write CA key");
        let (key, csr, cert) = (
            format!("{cn}.key"),
            format!("{cn}.csr"),
            format!("{cn}.pem"),
        );
        let subject = format!("/CN={cn}");
        run(&[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ]
        .into_iter()
        .chain(["-keyout", &key, "-subj", &subject, "-out", &csr])
        .collect::<Vec<_>>());
        run(&[
            "x509", "-req", "-in", &csr, "-CA", &ca_cert, "-CAkey", &ca_key,
        ]
        .into_iter()
        .chain(["-set_serial", "7", "-days", "2", "-out", &cert])
        .collect::<Vec<_>>());
        Leaf {
            cert_pem: std::fs::read_to_string(dir.join(&cert)).expect("read certificate"),
            key_pem: std::fs::read_to_string(dir.join(&key)).expect("read key"),
        }
    }

    /// Write the CA certificate as a PEM trust store.
    pub fn write_trust(&self, dir: &Path) -> PathBuf {
        let path = dir.join(format!("{}-ca.pem", self.name));
        std::fs::write(&path, &self.pem).expect("write trust store");
        path
    }
}

impl Leaf {
    /// Write certificate + key as one PEM key store.
    pub fn write_keystore(&self, dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(format!("{name}.pem"));
        std::fs::write(&path, format!("{}{}", self.cert_pem, self.key_pem)).expect("write");
        path
    }
}
