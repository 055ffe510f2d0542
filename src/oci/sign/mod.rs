//! Cosign-compatible signatures with key pairs: cosign's encrypted private key and PEM public
//! key (through the `sigstore` crate, which owns the crypto and the key format), the
//! simple-signing payload, and the layout cosign stores signatures in: an OCI image manifest
//! tagged `sha256-<hex>.sig` beside what it signs, one layer per signature.

mod store;

pub use store::{SignatureLayer, SignatureOutcome, fetch_signatures, sign_manifest};

use serde::{Deserialize, Serialize};
use sigstore::crypto::signing_key::{SigStoreKeyPair, SigStoreSigner};
use sigstore::crypto::{CosignVerificationKey, Signature, SigningScheme};

use crate::oci::Digest;

/// The media type of a signature layer (the simple-signing payload).
pub const SIMPLE_SIGNING_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The layer annotation holding the base64 signature of the payload.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// `critical.type` of a cosign payload.
pub const PAYLOAD_TYPE: &str = "cosign container image signature";

/// Why a key or a signature was refused.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("{0}")]
    Key(String),
    #[error("{0}")]
    Invalid(String),
}

/// Cosign's simple-signing payload (containers/image's signature format), in cosign's field
/// order: `{"critical":{"identity":{"docker-reference":…},"image":{"docker-manifest-digest":…},
/// "type":…},"optional":null}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimpleSigning {
    pub critical: Critical,
    pub optional: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Critical {
    pub identity: Identity,
    pub image: Image,
    #[serde(rename = "type")]
    pub type_name: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    #[serde(rename = "docker-reference")]
    pub docker_reference: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    #[serde(rename = "docker-manifest-digest")]
    pub docker_manifest_digest: String,
}

impl SimpleSigning {
    /// The payload for `digest` in `docker_reference` (`host/repository`, no tag).
    pub fn new(docker_reference: &str, digest: &Digest) -> SimpleSigning {
        SimpleSigning {
            critical: Critical {
                identity: Identity {
                    docker_reference: docker_reference.to_string(),
                },
                image: Image {
                    docker_manifest_digest: digest.to_string(),
                },
                type_name: PAYLOAD_TYPE.to_string(),
            },
            optional: None,
        }
    }

    /// The exact bytes signed (compact JSON, as cosign writes them).
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("plain strings serialize")
    }
}

/// The tag cosign keeps the signatures of `digest` under: `sha256-<hex>.sig`.
pub fn signature_tag(digest: &Digest) -> String {
    format!("{}-{}.sig", digest.algorithm().as_str(), digest.hex())
}

/// A new ECDSA P-256 key pair (cosign's default): the private key encrypted with `password`
/// in cosign's format, and the PEM public key.
pub fn generate_key_pair(
    password: &[u8],
) -> Result<(impl std::ops::Deref<Target = String>, String), SignError> {
    let signer = SigningScheme::ECDSA_P256_SHA256_ASN1
        .create_signer()
        .map_err(|e| SignError::Key(format!("cannot generate a key pair: {e}")))?;
    let pair = signer
        .to_sigstore_keypair()
        .map_err(|e| SignError::Key(format!("cannot export the key pair: {e}")))?;
    let mut private = pair
        .private_key_to_encrypted_pem(password)
        .map_err(|e| SignError::Key(format!("cannot encrypt the private key: {e}")))?;
    let mut public = pair
        .public_key_to_pem()
        .map_err(|e| SignError::Key(format!("cannot write the public key: {e}")))?;
    // The crate ends PEM lines with CRLF; cosign writes LF. In place: the secret is not copied.
    private.retain(|c| c != '\r');
    public.retain(|c| c != '\r');
    Ok((private, public))
}

/// A private key ready to sign, with the public key that verifies it.
pub struct Signer {
    signer: SigStoreSigner,
    pub public_pem: String,
}

impl Signer {
    /// Reads cosign's encrypted private key (`-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----`
    /// or cosign's older `ENCRYPTED COSIGN PRIVATE KEY`) with its password.
    pub fn from_encrypted_pem(pem: &[u8], password: &[u8]) -> Result<Signer, SignError> {
        let pair = SigStoreKeyPair::from_encrypted_pem(pem, password).map_err(|e| {
            SignError::Key(format!(
                "cannot open the private key ({e}); check the password (PROVISIONING_SIGNING_PASSWORD) and that the file is a cosign private key"
            ))
        })?;
        let scheme = match &pair {
            SigStoreKeyPair::ECDSA(_) => SigningScheme::ECDSA_P256_SHA256_ASN1,
            SigStoreKeyPair::ED25519(_) => SigningScheme::ED25519,
            SigStoreKeyPair::RSA(_) => SigningScheme::RSA_PKCS1_SHA256(0),
        };
        let signer = pair
            .to_sigstore_signer(&scheme)
            .map_err(|e| SignError::Key(format!("cannot sign with this key: {e}")))?;
        let public_pem = pair
            .public_key_to_pem()
            .map_err(|e| SignError::Key(format!("cannot read the public key: {e}")))?;
        Ok(Signer {
            signer,
            public_pem: public_pem.replace("\r\n", "\n"),
        })
    }

    /// The raw (DER for ECDSA) signature of `payload`.
    pub fn sign(&self, payload: &[u8]) -> Result<Vec<u8>, SignError> {
        self.signer
            .sign(payload)
            .map_err(|e| SignError::Key(format!("signing failed: {e}")))
    }
}

/// A public key that verifies signatures.
pub struct Verifier {
    key: CosignVerificationKey,
}

impl Verifier {
    /// Reads a PEM public key (`-----BEGIN PUBLIC KEY-----`, as `cosign generate-key-pair`
    /// and `oci keygen` write it).
    pub fn from_pem(pem: &[u8]) -> Result<Verifier, SignError> {
        let key = CosignVerificationKey::try_from_pem(pem).map_err(|e| {
            SignError::Key(format!(
                "not a public key ({e}); pass the .pub file `oci keygen` or cosign wrote"
            ))
        })?;
        Ok(Verifier { key })
    }

    /// Checks `signature` (base64, as in the layer annotation) over `payload`.
    pub fn verify(&self, signature_base64: &str, payload: &[u8]) -> Result<(), SignError> {
        self.key
            .verify_signature(
                Signature::Base64Encoded(signature_base64.as_bytes()),
                payload,
            )
            .map_err(|_| SignError::Invalid("the signature does not match this key".into()))
    }

    /// Checks a stored signature: made by this key over its payload, and the payload names
    /// `digest`.
    pub fn verify_layer(&self, layer: &SignatureLayer, digest: &Digest) -> Result<(), SignError> {
        self.verify(&layer.signature, &layer.payload)?;
        let payload: SimpleSigning = serde_json::from_slice(&layer.payload).map_err(|e| {
            SignError::Invalid(format!("the signed payload is not a cosign payload ({e})"))
        })?;
        if payload.critical.image.docker_manifest_digest != digest.to_string() {
            return Err(SignError::Invalid(format!(
                "the signature is for {}, not {digest}",
                payload.critical.image.docker_manifest_digest
            )));
        }
        Ok(())
    }
}

/// How the signatures of one artifact stand against a set of keys.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// Signatures stored for the digest.
    pub count: usize,
    /// Per signature, the index of the first key that verified it.
    pub verified_by: Vec<Option<usize>>,
    /// Why each signature failed (with the last key tried), for the ones no key verified.
    pub failures: Vec<String>,
}

impl Verdict {
    pub fn any_verified(&self) -> bool {
        self.verified_by.iter().any(Option::is_some)
    }
}

/// Checks every stored signature against every key.
pub fn judge(layers: &[SignatureLayer], keys: &[Verifier], digest: &Digest) -> Verdict {
    let mut verdict = Verdict {
        count: layers.len(),
        ..Verdict::default()
    };
    for layer in layers {
        let mut by = None;
        let mut last = String::from("no key to verify with");
        for (i, key) in keys.iter().enumerate() {
            match key.verify_layer(layer, digest) {
                Ok(()) => {
                    by = Some(i);
                    break;
                }
                Err(e) => last = e.to_string(),
            }
        }
        if by.is_none() {
            verdict.failures.push(last);
        }
        verdict.verified_by.push(by);
    }
    verdict
}
