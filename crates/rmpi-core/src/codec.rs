//! The codec seam: how serde objects become message bytes.
//!
//! Object messages (`Comm::send`/`Comm::recv`, like mpi4py's pickled lowercase calls) go through
//! [`DefaultCodec`] and nothing else names the serialisation crate. bincode is pinned to 2.0.x
//! (3.0.0 is a deliberate compile error and the crate is unmaintained); replacing it means
//! writing one more [`Codec`] and pointing [`DefaultCodec`] at it. Both sides of a job must use
//! the same codec: the bytes carry no format marker.

use serde::{de::DeserializeOwned, Serialize};

/// Turns serde values into bytes and back.
pub trait Codec {
    /// Appends the encoding of `value` to `out` (so a caller's header can precede it without
    /// a copy); the error is a human-readable reason.
    fn encode_into<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<(), String>;

    /// Encodes `value` into a new vector.
    fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        Self::encode_into(value, &mut out)?;
        Ok(out)
    }

    /// Decodes a whole message; trailing bytes are an error, so a type mismatch is caught
    /// rather than half-read.
    fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String>;
}

/// bincode 2 with its standard configuration (little-endian, variable-length integers).
#[derive(Debug, Clone, Copy, Default)]
pub struct Bincode;

impl Codec for Bincode {
    fn encode_into<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<(), String> {
        bincode::serde::encode_into_std_write(value, out, bincode::config::standard())
            .map(drop)
            .map_err(|e| e.to_string())
    }

    fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
        let (value, read) = bincode::serde::decode_from_slice(bytes, bincode::config::standard())
            .map_err(|e| e.to_string())?;
        if read != bytes.len() {
            return Err(format!(
                "{} trailing bytes after the value: sender and receiver disagree on the type",
                bytes.len() - read
            ));
        }
        Ok(value)
    }
}

/// The codec every communicator uses for objects.
pub type DefaultCodec = Bincode;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_mismatch() {
        let bytes = Bincode::encode(&(1u32, "two".to_string(), vec![3.0f64])).unwrap();
        let back: (u32, String, Vec<f64>) = Bincode::decode(&bytes).unwrap();
        assert_eq!(back, (1, "two".into(), vec![3.0]));
        assert!(Bincode::decode::<u8>(&bytes).is_err());
        assert!(Bincode::decode::<String>(&[0xff, 0xff]).is_err());
    }
}
