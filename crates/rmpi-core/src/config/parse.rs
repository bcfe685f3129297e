//! Reading settings' text: each value is checked as it is read, and an error names the
//! variable, its value and what was expected.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use super::{SingleCopy, LAUNCHER_VARIABLES, SETTINGS};
use crate::error::{Error, Result};

/// The `RMPI_` variables of one job, every name checked to be a setting or a launcher's.
pub(super) struct Vars(BTreeMap<String, String>);

fn invalid(name: &str, value: &str, expected: &str) -> Error {
    Error::InvalidArgument(format!("{name}={value}: expected {expected}"))
}

impl Vars {
    pub(super) fn new<N, V>(vars: impl IntoIterator<Item = (N, V)>) -> Result<Vars>
    where
        N: AsRef<str>,
        V: AsRef<str>,
    {
        let mut known = BTreeMap::new();
        for (name, value) in vars {
            let name = name.as_ref();
            if !name.starts_with("RMPI_") || LAUNCHER_VARIABLES.contains(&name) {
                continue;
            }
            if !SETTINGS.contains(&name) {
                return Err(unknown(name));
            }
            known.insert(name.to_string(), value.as_ref().to_string());
        }
        Ok(Vars(known))
    }

    pub(super) fn get(&self, name: &str) -> Option<&str> {
        debug_assert!(SETTINGS.contains(&name), "{name} is not in the table");
        self.0.get(name).map(String::as_str)
    }

    /// One of `choices`, by name.
    pub(super) fn choice<T: Copy>(&self, name: &str, choices: &[(&str, T)]) -> Result<Option<T>> {
        let Some(text) = self.get(name) else {
            return Ok(None);
        };
        match choices.iter().find(|(label, _)| *label == text) {
            Some((_, value)) => Ok(Some(*value)),
            None => {
                let labels: Vec<&str> = choices.iter().map(|(label, _)| *label).collect();
                Err(invalid(
                    name,
                    text,
                    &format!("one of {}", labels.join(", ")),
                ))
            }
        }
    }

    /// A forced collective algorithm; empty or `auto` forces none.
    pub(super) fn algorithm<A: Copy>(
        &self,
        name: &str,
        all: &[A],
        label: fn(&A) -> &'static str,
    ) -> Result<Option<A>> {
        let Some(text) = self
            .get(name)
            .filter(|text| !text.is_empty() && *text != "auto")
        else {
            return Ok(None);
        };
        match all.iter().find(|algorithm| label(algorithm) == text) {
            Some(algorithm) => Ok(Some(*algorithm)),
            None => {
                let labels: Vec<&str> = all.iter().map(label).collect();
                Err(invalid(
                    name,
                    text,
                    &format!("auto or one of {}", labels.join(", ")),
                ))
            }
        }
    }

    pub(super) fn micros(&self, name: &str) -> Result<Option<Duration>> {
        let Some(text) = self.get(name) else {
            return Ok(None);
        };
        text.parse()
            .map(|us| Some(Duration::from_micros(us)))
            .map_err(|_| invalid(name, text, "microseconds (a whole number)"))
    }

    pub(super) fn bytes(&self, name: &str) -> Result<Option<usize>> {
        let Some(text) = self.get(name) else {
            return Ok(None);
        };
        byte_count(text)
            .map(Some)
            .ok_or_else(|| invalid(name, text, "a byte count such as 4096, 64KiB or 4MiB"))
    }

    /// A power of two of at least 4 KiB (or, with `zero_too`, 0).
    pub(super) fn power_of_two(&self, name: &str, zero_too: bool) -> Result<Option<usize>> {
        let Some(text) = self.get(name) else {
            return Ok(None);
        };
        let accepted = |b: &usize| (zero_too && *b == 0) || (b.is_power_of_two() && *b >= 4096);
        byte_count(text).filter(accepted).map(Some).ok_or_else(|| {
            let expected = match zero_too {
                true => "0 or a power of two of at least 4096 bytes",
                false => "a power of two of at least 4096 bytes",
            };
            invalid(name, text, expected)
        })
    }

    pub(super) fn address(&self, name: &str) -> Result<Option<IpAddr>> {
        let Some(text) = self.get(name) else {
            return Ok(None);
        };
        match text.parse::<IpAddr>() {
            Ok(address) if !address.is_unspecified() => Ok(Some(address)),
            Ok(_) => Err(invalid(
                name,
                text,
                "the address of one interface, not a wildcard",
            )),
            Err(_) => Err(invalid(name, text, "an IP address")),
        }
    }

    pub(super) fn single_copy(&self, name: &str) -> Result<SingleCopy> {
        match self.get(name) {
            None | Some("auto") => Ok(SingleCopy::Auto),
            Some("off") => Ok(SingleCopy::Off),
            Some(text) => byte_count(text)
                .map(SingleCopy::From)
                .ok_or_else(|| invalid(name, text, "a byte count, auto or off")),
        }
    }
}

/// `4096`, `64KiB`, `64K`, `4MiB`, `1GiB`: binary multiples.
fn byte_count(text: &str) -> Option<usize> {
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    let shift = match unit {
        "" | "B" => 0,
        "K" | "KiB" => 10,
        "M" | "MiB" => 20,
        "G" | "GiB" => 30,
        _ => return None,
    };
    number.parse::<usize>().ok()?.checked_mul(1 << shift)
}

/// An `RMPI_` name that is no setting: a typo, most likely, so the nearest name is offered.
fn unknown(name: &str) -> Error {
    let nearest = SETTINGS
        .iter()
        .map(|known| (strsim::levenshtein(name, known), known))
        .min()
        .filter(|(distance, _)| *distance <= 3);
    let hint = match nearest {
        Some((_, known)) => format!("; did you mean {known}?"),
        None => String::new(),
    };
    Error::InvalidArgument(format!(
        "{name} is not an rmpi setting{hint} (the settings are listed in rmpi::config)"
    ))
}
