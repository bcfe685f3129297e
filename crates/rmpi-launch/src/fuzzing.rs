//! Checks the fuzz targets in `fuzz/` run on arbitrary bytes, and that the tests replay on
//! the inputs kept in `fuzz/regressions/`. Not an API: each function panics when the parser
//! it drives breaks a promise.

use crate::pmi::{unescape, Message, MAX_LINE};
use crate::stuck::Stuck;

/// A line of PMI-1 from a rank or a server (`fuzz_targets/pmi_line.rs`), read as the
/// launcher and the ranks read it (at most [`MAX_LINE`] bytes): a message that parses
/// writes back to a line that parses to the same message, and an `rmpi_waiting` report in
/// it is read or refused, never a panic.
pub fn pmi_line(data: &[u8]) {
    let line = String::from_utf8_lossy(&data[..data.len().min(MAX_LINE)]);
    let Ok(message) = Message::parse(&line) else {
        return;
    };
    let again = Message::parse(&message.to_line()).expect("a written line parses");
    assert_eq!(again, message);
    if let Ok(stuck) = Stuck::from_message(&message, 64) {
        assert!(stuck.waits.iter().all(|w| w.awaits.iter().all(|&r| r < 64)));
    }
    for (_, value) in &message.fields {
        if let Some(text) = unescape(value) {
            assert_eq!(
                unescape(&crate::pmi::escape(&text)).as_deref(),
                Some(&*text)
            );
        }
    }
}

/// A host file or `--host` list (`fuzz_targets/hostfile.rs`): parsed or refused, and the
/// hosts parsed place a small job on named hosts with slots, without a panic or an
/// allocation for slots the job does not use.
#[cfg(feature = "cli")]
pub fn hostfile(data: &[u8]) {
    use crate::hosts::{parse_host_list, parse_hostfile, place, MapBy};
    let text = String::from_utf8_lossy(data);
    for parsed in [parse_hostfile(&text), parse_host_list(&text)] {
        let Ok(hosts) = parsed else {
            continue;
        };
        assert!(
            hosts.iter().all(|h| !h.name.is_empty() && h.slots > 0),
            "{hosts:?}"
        );
        for map_by in [MapBy::Slot, MapBy::Node] {
            let placed = place(&hosts, 8, map_by);
            assert_eq!(placed.len(), if hosts.is_empty() { 0 } else { 8 });
            assert!(placed.iter().all(|p| hosts.iter().any(|h| &h.name == p)));
        }
    }
}

#[cfg(test)]
mod tests {
    use rmpi_core::fuzzing::replay;

    #[test]
    fn kept_inputs_still_pass() {
        assert!(replay("pmi_line", super::pmi_line) > 0);
        #[cfg(feature = "cli")]
        assert!(replay("hostfile", super::hostfile) > 0);
    }
}
