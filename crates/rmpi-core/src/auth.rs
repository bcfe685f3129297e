//! Proving that a connection belongs to the job without sending the job's secret.
//!
//! Launcher and ranks share a secret that only they know. Whoever opens a connection and
//! whoever accepts it each send a fresh random [`Nonce`]; then each proves it knows the
//! secret with an HMAC-SHA256 over both nonces and what the two sides said (the
//! *transcript*), keyed with the secret and labelled with its role, so that neither side's
//! proof can be replayed, reflected back, or used on another connection. The secret never
//! crosses the wire, and a stranger learns nothing it could use to join.
//!
//! ```
//! use rmpi_core::auth::{prove, verify, Nonce};
//! let secret = b"only the job knows";
//! let (mine, theirs) = (Nonce::random()?, Nonce::random()?);
//! let transcript: [&[u8]; 2] = [mine.as_bytes(), theirs.as_bytes()];
//! let proof = prove(secret, "example accept", &transcript);
//! assert!(verify(secret, "example accept", &transcript, &proof));
//! assert!(!verify(b"a guess", "example accept", &transcript, &proof));
//! assert!(!verify(secret, "example connect", &transcript, &proof));
//! # Ok::<(), rmpi_core::Error>(())
//! ```

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::{Error, Result};

/// Length of a [`Nonce`] in bytes.
pub const NONCE_LEN: usize = 16;
/// Length of a proof in bytes (an HMAC-SHA256).
pub const PROOF_LEN: usize = 32;

/// A random value one side of a handshake contributes, never used twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nonce([u8; NONCE_LEN]);

impl Nonce {
    /// A fresh nonce from the operating system's random source.
    pub fn random() -> Result<Nonce> {
        let mut bytes = [0u8; NONCE_LEN];
        getrandom::fill(&mut bytes)
            .map_err(|e| Error::Bootstrap(format!("no randomness for a handshake: {e}")))?;
        Ok(Nonce(bytes))
    }

    /// A nonce received from the other side.
    pub fn from_bytes(bytes: [u8; NONCE_LEN]) -> Nonce {
        Nonce(bytes)
    }

    /// Its bytes.
    pub fn as_bytes(&self) -> &[u8; NONCE_LEN] {
        &self.0
    }
}

fn mac(secret: &[u8], role: &str, transcript: &[&[u8]]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    // Every part is length-prefixed, so no two transcripts read alike.
    for part in std::iter::once(role.as_bytes()).chain(transcript.iter().copied()) {
        mac.update(&(part.len() as u64).to_le_bytes());
        mac.update(part);
    }
    mac
}

/// The proof that the side playing `role` knows `secret`, over `transcript` (which must
/// hold both sides' nonces).
pub fn prove(secret: &[u8], role: &str, transcript: &[&[u8]]) -> [u8; PROOF_LEN] {
    mac(secret, role, transcript).finalize().into_bytes().into()
}

/// Whether `proof` is what [`prove`] gives for `secret`, `role` and `transcript`, compared
/// in time independent of where it differs.
pub fn verify(secret: &[u8], role: &str, transcript: &[&[u8]], proof: &[u8]) -> bool {
    mac(secret, role, transcript).verify_slice(proof).is_ok()
}

/// Lower-case hex, the form secrets, nonces and proofs take in text protocols.
pub fn encode_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The bytes of lower- or upper-case hex text; `None` if it is not hex.
pub fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proofs_depend_on_every_part() {
        let t: [&[u8]; 2] = [b"ab", b"c"];
        let proof = prove(b"s", "r", &t);
        assert!(verify(b"s", "r", &t, &proof));
        // Moving a byte between parts changes the proof.
        assert!(!verify(b"s", "r", &[b"a", b"bc"], &proof));
        assert!(!verify(b"s", "r", &t, &proof[..31]));
        assert_ne!(Nonce::random().unwrap(), Nonce::random().unwrap());
    }

    #[test]
    fn hex_round_trips() {
        let bytes = [0u8, 1, 0xab, 0xff];
        assert_eq!(decode_hex(&encode_hex(&bytes)), Some(bytes.to_vec()));
        assert_eq!(decode_hex("abc"), None);
        assert_eq!(decode_hex("zz"), None);
    }
}
