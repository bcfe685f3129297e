//! Type fingerprints: eight bytes in front of every object message saying which type it was
//! sent as, so that a receive naming another type fails instead of misreading the bytes
//! (`-1i32` received as `u32` would otherwise decode as `1`).
//!
//! The fingerprint hashes the type's name as serde sees its shape, not as Rust spells it:
//! module paths are dropped (two programs of one job may define the same struct in
//! different crates), references and `Box`/`Rc`/`Arc`/`Cow` are looked through, `String`
//! and `str` are one type, `Vec`, slices and sets are one sequence, the maps are one map,
//! and byte sequences (`Vec<u8>`, `serde_bytes`) are one. Types that encode alike under
//! those rules are accepted for each other, as MPI accepts a receive of a compatible type.
//! Each type's fingerprint is worked out once per thread.

use std::cell::RefCell;
use std::collections::HashMap;

/// The fingerprint of `T`, computed once per thread.
///
/// ```
/// use rmpi::codec::fingerprint;
/// assert_eq!(fingerprint::of::<String>(), fingerprint::of::<&str>());
/// assert_ne!(fingerprint::of::<i32>(), fingerprint::of::<u32>());
/// ```
pub fn of<T: ?Sized>() -> u64 {
    let name = std::any::type_name::<T>();
    let key = (name.as_ptr() as usize, name.len());
    thread_local! {
        static KNOWN: RefCell<HashMap<(usize, usize), u64, rustc_hash::FxBuildHasher>> =
            RefCell::default();
    }
    KNOWN.with(|known| {
        *known
            .borrow_mut()
            .entry(key)
            .or_insert_with(|| hash(&shape_name(name)))
    })
}

/// `T`'s name as the fingerprint hashes it: its shape, as the module's rules say.
///
/// ```
/// use rmpi::codec::fingerprint::shape_of;
/// assert_eq!(shape_of::<std::sync::Arc<String>>(), shape_of::<String>());
/// ```
pub fn shape_of<T: ?Sized>() -> String {
    shape_name(std::any::type_name::<T>())
}

/// FNV-1a: the same on every host and build, which `std`'s hashers do not promise.
fn hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn shape_name(type_name: &str) -> String {
    let mut parser = Parser {
        text: type_name.as_bytes(),
        at: 0,
    };
    let mut out = String::new();
    parser.ty(&mut out);
    if parser.at < parser.text.len() {
        // Something the grammar below does not know: keep the rest as it is.
        out.push_str(&type_name[parser.at..]);
    }
    out
}

/// A small parser over `std::any::type_name`'s output, writing the shape as it goes.
struct Parser<'a> {
    text: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    fn skip_spaces(&mut self) {
        while self.peek() == Some(b' ') {
            self.at += 1;
        }
    }

    fn eat(&mut self, token: &str) -> bool {
        self.skip_spaces();
        if self.text[self.at..].starts_with(token.as_bytes()) {
            self.at += token.len();
            true
        } else {
            false
        }
    }

    fn ty(&mut self, out: &mut String) {
        self.skip_spaces();
        if self.eat("&") {
            self.eat("mut ");
            return self.ty(out);
        }
        if self.eat("[") {
            let mut element = String::new();
            self.ty(&mut element);
            if self.eat(";") {
                let start = self.at;
                while self.peek().is_some_and(|b| b != b']') {
                    self.at += 1;
                }
                let length = String::from_utf8_lossy(&self.text[start..self.at]);
                out.push_str(&format!("[{element}; {}]", length.trim()));
            } else {
                out.push_str(&sequence(&element));
            }
            self.eat("]");
            return;
        }
        if self.eat("(") {
            out.push('(');
            let mut first = true;
            while !self.eat(")") && self.at < self.text.len() {
                if !first {
                    out.push_str(", ");
                }
                first = false;
                self.ty(out);
                self.eat(",");
            }
            out.push(')');
            return;
        }
        self.path(out);
    }

    /// `a::b::Name<Args>`: the last segment and its arguments.
    fn path(&mut self, out: &mut String) {
        let name = loop {
            let start = self.at;
            while self
                .peek()
                .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
            {
                self.at += 1;
            }
            let segment = String::from_utf8_lossy(&self.text[start..self.at]).into_owned();
            if !self.eat("::") {
                break segment;
            }
        };
        let mut args = Vec::new();
        if self.eat("<") {
            while !self.eat(">") && self.at < self.text.len() {
                let mut arg = String::new();
                self.ty(&mut arg);
                args.push(arg);
                self.eat(",");
            }
        }
        out.push_str(&canonical(&name, args));
    }
}

/// One type in the terms serde encodes it in.
fn canonical(name: &str, mut args: Vec<String>) -> String {
    let first = || args.first().cloned().unwrap_or_default();
    match name {
        "Box" | "Rc" | "Arc" | "Cow" => first(),
        "String" | "str" => "str".into(),
        "Vec" | "VecDeque" | "LinkedList" | "BinaryHeap" | "HashSet" | "BTreeSet" => {
            sequence(&first())
        }
        "HashMap" | "BTreeMap" => {
            args.truncate(2);
            format!("{{{}}}", args.join(": "))
        }
        "Bytes" | "ByteBuf" | "ByteArray" => "bytes".into(),
        _ if args.is_empty() => name.into(),
        _ => format!("{name}<{}>", args.join(", ")),
    }
}

fn sequence(element: &str) -> String {
    if element == "u8" {
        "bytes".into()
    } else {
        format!("[{element}]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, HashMap, HashSet};
    use std::ops::Range;

    #[test]
    fn shapes_that_encode_alike_share_a_fingerprint() {
        assert_eq!(of::<[u32]>(), of::<Vec<u32>>());
        assert_eq!(of::<&[u32]>(), of::<Vec<u32>>());
        assert_eq!(of::<str>(), of::<String>());
        assert_eq!(of::<Box<String>>(), of::<&str>());
        assert_eq!(of::<HashSet<i8>>(), of::<Vec<i8>>());
        assert_eq!(of::<HashMap<u8, String>>(), of::<BTreeMap<u8, &str>>());
        assert_eq!(of::<Vec<u8>>(), of::<bytes::Bytes>());
        assert_eq!(
            of::<(Vec<String>, Option<Box<[f64]>>)>(),
            of::<(Vec<&str>, Option<Vec<f64>>)>()
        );
        assert_eq!(shape_of::<Range<i32>>(), "Range<i32>");
        assert_eq!(shape_of::<[u16; 3]>(), "[u16; 3]");
        assert_eq!(shape_of::<()>(), "()");
    }

    #[test]
    fn other_types_do_not() {
        assert_ne!(of::<i32>(), of::<u32>());
        assert_ne!(of::<Vec<u32>>(), of::<Vec<i32>>());
        assert_ne!(of::<[u32; 3]>(), of::<Vec<u32>>());
        assert_ne!(of::<Option<u8>>(), of::<u8>());
        assert_ne!(of::<(u8, u16)>(), of::<(u16, u8)>());
        assert_ne!(of::<Range<i32>>(), of::<Range<i64>>());
    }
}
