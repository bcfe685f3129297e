//! Settings a user gives every rank of a job through environment variables (`rmpirun -x`
//! passes them on), read the same way by every crate: unset is `None`, a bad value an error
//! naming the variable.

use std::time::Duration;

use crate::error::{Error, Result};

/// A time in microseconds from the variable `name`, if set.
pub fn micros(name: &str) -> Result<Option<Duration>> {
    match std::env::var(name) {
        Err(_) => Ok(None),
        Ok(text) => text
            .parse()
            .map(|us| Some(Duration::from_micros(us)))
            .map_err(|_| Error::InvalidArgument(format!("{name}={text}: expected microseconds"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_is_none_and_a_bad_value_names_the_variable() {
        assert_eq!(micros("RMPI_KNOB_TEST_NEVER_SET").unwrap(), None);
        // Only this test touches these variables.
        std::env::set_var("RMPI_KNOB_TEST_GOOD", "250");
        assert_eq!(
            micros("RMPI_KNOB_TEST_GOOD").unwrap(),
            Some(Duration::from_micros(250))
        );
        std::env::set_var("RMPI_KNOB_TEST_BAD", "soon");
        let error = micros("RMPI_KNOB_TEST_BAD").unwrap_err().to_string();
        assert!(error.contains("RMPI_KNOB_TEST_BAD=soon"), "{error}");
    }
}
