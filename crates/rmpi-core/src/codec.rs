//! The codec seam: how serde objects become message bytes.
//!
//! Object messages (`Comm::send`/`Comm::recv`, like mpi4py's pickled lowercase calls) go through
//! [`DefaultCodec`] and nothing else names the serialisation crate. bincode is pinned to 2.0.x
//! (3.0.0 is a deliberate compile error and the crate is unmaintained); replacing it means
//! writing one more [`Codec`] and pointing [`DefaultCodec`] at it. Both sides of a job must use
//! the same codec: the bytes carry no format marker. They do carry the type: [`Typed`] puts a
//! [fingerprint] of the sent type in front, so a receive of another type is an error, in
//! every build and on every transport.
//!
//! ```
//! let results = rmpi::local::run(2, |comm| async move {
//!     if comm.rank() == 0 {
//!         comm.send(&-1i32, 1, 0).await?;
//!         Ok(0)
//!     } else {
//!         comm.recv::<u32>(0, 0).await // sent as i32: refused, not read as 4294967295
//!     }
//! });
//! let error = results[1].as_ref().unwrap_err();
//! assert!(matches!(error, rmpi::Error::Decode { source_rank: 0, .. }));
//! assert!(error.to_string().contains("u32"), "{error}");
//! ```

use std::marker::PhantomData;

use serde::{de::DeserializeOwned, Serialize};

pub mod fingerprint;

/// Turns serde values into bytes and back.
///
/// ```
/// use rmpi::codec::{Codec, DefaultCodec};
/// let bytes = DefaultCodec::encode(&(1u8, "two")).unwrap();
/// let back: (u8, String) = DefaultCodec::decode(&bytes).unwrap();
/// assert_eq!(back, (1, "two".to_string()));
/// ```
pub trait Codec {
    /// Appends the encoding of `value` to `out` (so a caller's header can precede it without
    /// a copy); the error is a human-readable reason.
    ///
    /// ```
    /// use rmpi::codec::{Codec, DefaultCodec};
    /// let mut message = b"header".to_vec();
    /// DefaultCodec::encode_into(&vec![1u16, 2], &mut message).unwrap();
    /// assert!(message.len() > 6);
    /// assert_eq!(DefaultCodec::decode::<Vec<u16>>(&message[6..]).unwrap(), [1, 2]);
    /// ```
    fn encode_into<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<(), String>;

    /// Encodes `value` into a new vector.
    ///
    /// ```
    /// use rmpi::codec::{Bincode, Codec};
    /// assert_eq!(Bincode::encode(&5u32).unwrap(), [5]); // small integers take one byte
    /// ```
    fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        Self::encode_into(value, &mut out)?;
        Ok(out)
    }

    /// Decodes a whole message; trailing bytes are an error, so a type mismatch is caught
    /// rather than half-read.
    ///
    /// ```
    /// use rmpi::codec::{Bincode, Codec};
    /// let bytes = Bincode::encode(&("x", 1u8)).unwrap();
    /// assert_eq!(Bincode::decode::<(String, u8)>(&bytes).unwrap(), ("x".to_string(), 1));
    /// assert!(Bincode::decode::<String>(&bytes).is_err()); // trailing bytes: another type
    /// ```
    fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String>;
}

/// bincode 2 with its standard configuration (little-endian, variable-length integers).
///
/// ```
/// use rmpi::codec::{Bincode, Codec};
/// let bytes = Bincode::encode(&300u32).unwrap();
/// assert_eq!(Bincode::decode::<u32>(&bytes).unwrap(), 300);
/// assert!(Bincode::decode::<u8>(&bytes).is_err()); // bytes left over
/// ```
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

/// A codec that puts the sent type's [fingerprint] (8 bytes) before `C`'s encoding and
/// checks it on decoding.
///
/// ```
/// use rmpi::codec::{Bincode, Codec, Typed};
/// let bytes = Typed::<Bincode>::encode(&-1i32).unwrap();
/// assert_eq!(Typed::<Bincode>::decode::<i32>(&bytes).unwrap(), -1);
/// assert!(Typed::<Bincode>::decode::<u32>(&bytes).is_err());
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Typed<C>(PhantomData<C>);

impl<C: Codec> Codec for Typed<C> {
    fn encode_into<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<(), String> {
        out.extend_from_slice(&fingerprint::of::<T>().to_le_bytes());
        C::encode_into(value, out)
    }

    fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
        let Some((mark, value)) = bytes.split_first_chunk::<8>() else {
            return Err(format!(
                "{} bytes are too few for an object message (a type fingerprint, then the \
                 value): was it sent as bytes or a buffer?",
                bytes.len()
            ));
        };
        if u64::from_le_bytes(*mark) != fingerprint::of::<T>() {
            return Err(format!(
                "it was sent as another type than the `{}` this receive expects",
                std::any::type_name::<T>()
            ));
        }
        C::decode(value)
    }
}

/// The codec every communicator uses for objects: bincode, behind a type fingerprint.
///
/// ```
/// use rmpi::codec::{Codec, DefaultCodec};
/// let bytes = DefaultCodec::encode("hi").unwrap();
/// assert_eq!(DefaultCodec::decode::<String>(&bytes).unwrap(), "hi");
/// ```
pub type DefaultCodec = Typed<Bincode>;

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

    #[test]
    fn the_default_codec_refuses_another_type() {
        let bytes = DefaultCodec::encode(&-1i32).unwrap();
        assert_eq!(DefaultCodec::decode::<i32>(&bytes), Ok(-1));
        let refused = DefaultCodec::decode::<u32>(&bytes).unwrap_err();
        assert!(refused.contains("`u32`"), "{refused}");
        let slice = DefaultCodec::encode(&[1u16, 2][..]).unwrap();
        assert_eq!(DefaultCodec::decode::<Vec<u16>>(&slice), Ok(vec![1, 2]));
        assert!(DefaultCodec::decode::<u8>(&[1, 2, 3]).is_err());
    }
}
