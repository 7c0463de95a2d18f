//! Native parts of govbus's per-event path. The pure-Python code in `bus/` stays the reference:
//! tests/unit/test_native_*.py compare these functions with it (and with PyNaCl) input by input.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::{Signature, VerifyingKey, PUBLIC_KEY_LENGTH, SIGNATURE_LENGTH};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use sha2::{Digest, Sha256};

/// One agency's Ed25519 public key, decoded once, that accepts exactly the signatures libsodium
/// 1.0.20 (PyNaCl's `VerifyKey.verify`) accepts.
///
/// `verify_strict` refuses what libsodium refuses (S >= L, small-order R or A, a non-canonical
/// R: cofactorless equation over R's bytes); libsodium also refuses a non-canonical A, which
/// dalek would decode, so the constructor refuses such a key (and a small-order one: no
/// signature with it can pass either verifier). Batch verification is left out on purpose: it
/// accepts signatures both single verifiers refuse (mixed-order R, with a chance a signer can
/// grind for).
#[pyclass(frozen, module = "govbus_native")]
struct Ed25519Verifier {
    key: VerifyingKey,
}

#[pymethods]
impl Ed25519Verifier {
    #[new]
    fn new(public_key: &[u8]) -> PyResult<Self> {
        let bytes: [u8; PUBLIC_KEY_LENGTH] = public_key
            .try_into()
            .map_err(|_| PyValueError::new_err("an Ed25519 public key has 32 bytes"))?;
        let key = VerifyingKey::from_bytes(&bytes)
            .map_err(|_| PyValueError::new_err("not a point on Ed25519"))?;
        if key.to_edwards().compress().to_bytes() != bytes {
            return Err(PyValueError::new_err("non-canonical encoding of the public key"));
        }
        if key.is_weak() {
            return Err(PyValueError::new_err("the public key is of small order"));
        }
        Ok(Self { key })
    }

    /// True when `signature` (64 bytes) is this key's signature over `message`. The GIL is let go
    /// meanwhile, as PyNaCl's cffi call does.
    fn verify(&self, py: Python<'_>, message: &[u8], signature: &[u8]) -> bool {
        let Ok(bytes) = <[u8; SIGNATURE_LENGTH]>::try_from(signature) else {
            return false;
        };
        let signature = Signature::from_bytes(&bytes);
        let key = &self.key;
        py.allow_threads(|| key.verify_strict(message, &signature).is_ok())
    }
}

/// RFC 9901 digest of an encoded disclosure: base64url (unpadded) of SHA-256 over its ASCII.
#[pyfunction]
fn sd_digest(encoded_disclosure: &str) -> PyResult<String> {
    if !encoded_disclosure.is_ascii() {
        return Err(PyValueError::new_err("an encoded disclosure is ASCII"));
    }
    Ok(URL_SAFE_NO_PAD.encode(Sha256::digest(encoded_disclosure.as_bytes())))
}

/// Kafka's murmur2 (the Java client's `Utils.murmur2`, aiokafka's `murmur2`) of a record key: the
/// default partitioner's hash, which the enforcer checks every ingress record's partition by.
#[pyfunction]
fn murmur2(data: &[u8]) -> u32 {
    const M: u32 = 0x5bd1_e995;
    let mut h: u32 = 0x9747_b28c ^ (data.len() as u32);
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> 24;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M) ^ k;
    }
    let rest = chunks.remainder();
    if rest.len() >= 3 {
        h ^= u32::from(rest[2]) << 16;
    }
    if rest.len() >= 2 {
        h ^= u32::from(rest[1]) << 8;
    }
    if !rest.is_empty() {
        h ^= u32::from(rest[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h
}

#[pymodule]
fn govbus_native(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<Ed25519Verifier>()?;
    module.add_function(wrap_pyfunction!(sd_digest, module)?)?;
    module.add_function(wrap_pyfunction!(murmur2, module)?)?;
    Ok(())
}
