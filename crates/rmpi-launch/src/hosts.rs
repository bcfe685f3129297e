//! Host lists from `--hostfile` and `--host`, in the forms mpiexec users write, and the
//! placement of ranks on them by slots (`--map-by slot`, the default, fills each host in
//! turn; `--map-by node` deals ranks out one host at a time).

use std::path::Path;

/// A host and how many ranks it takes.
///
/// ```
/// use rmpi_launch::hosts::{parse_host_list, Host};
/// let hosts = parse_host_list("node1:4")?;
/// assert_eq!(hosts, [Host { name: "node1".into(), slots: 4 }]);
/// # Ok::<(), String>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// The host name or address.
    pub name: String,
    /// Ranks it takes.
    pub slots: usize,
}

/// Parses one entry: `name`, `name:slots` or `name slots=N` (Open MPI's form).
fn parse_entry(entry: &str) -> Result<Host, String> {
    let mut words = entry.split_whitespace();
    let first = words.next().ok_or("empty host entry")?;
    // An IPv6 address has colons of its own: it takes a slot count only in brackets.
    let split = match first.strip_prefix('[') {
        Some(bracketed) => bracketed
            .split_once(']')
            .map(|(name, rest)| (name, rest.strip_prefix(':'))),
        None if first.matches(':').count() == 1 => first.split_once(':').map(|(n, c)| (n, Some(c))),
        None => Some((first, None)),
    };
    let (name, count) = split.ok_or_else(|| format!("bad host entry {entry:?}"))?;
    if name.is_empty() {
        return Err(format!("host entry {entry:?} names no host"));
    }
    let mut slots = match count {
        Some(count) => Some(
            count
                .parse::<usize>()
                .map_err(|_| format!("bad slot count in {entry:?}"))?,
        ),
        None => None,
    };
    for word in words {
        let count = word
            .strip_prefix("slots=")
            .or_else(|| word.strip_prefix("max_slots="))
            .ok_or_else(|| format!("unknown host attribute {word:?} in {entry:?}"))?;
        if word.starts_with("slots=") {
            slots = Some(
                count
                    .parse()
                    .map_err(|_| format!("bad slot count in {entry:?}"))?,
            );
        }
    }
    let slots = slots.unwrap_or(1);
    if slots == 0 {
        return Err(format!("host entry {entry:?} has no slots"));
    }
    Ok(Host {
        name: name.to_owned(),
        slots,
    })
}

/// Parses `--host h1,h2:4`.
///
/// ```
/// use rmpi_launch::hosts::parse_host_list;
/// let hosts = parse_host_list("node1:2,node2,[fe80::1]:8")?;
/// let slots: Vec<usize> = hosts.iter().map(|h| h.slots).collect();
/// assert_eq!(slots, [2, 1, 8]);
/// assert!(parse_host_list("node1:lots").is_err());
/// # Ok::<(), String>(())
/// ```
pub fn parse_host_list(list: &str) -> Result<Vec<Host>, String> {
    list.split(',')
        .filter(|entry| !entry.trim().is_empty())
        .map(parse_entry)
        .collect()
}

/// Parses a host file: one entry per line, `#` starts a comment.
///
/// ```
/// use rmpi_launch::hosts::parse_hostfile;
/// let hosts = parse_hostfile("# our cluster\nnode1 slots=4\nnode2:2  # the small one\nnode3\n")?;
/// let names: Vec<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
/// assert_eq!(names, ["node1", "node2", "node3"]);
/// assert_eq!(hosts[0].slots, 4);
/// # Ok::<(), String>(())
/// ```
pub fn parse_hostfile(text: &str) -> Result<Vec<Host>, String> {
    text.lines()
        .map(|line| line.split('#').next().unwrap_or("").trim())
        .filter(|line| !line.is_empty())
        .map(parse_entry)
        .collect()
}

/// Reads and parses a host file.
///
/// ```
/// let path = std::env::temp_dir().join(format!("rmpi-hosts-{}", std::process::id()));
/// std::fs::write(&path, "node1 slots=2\n").unwrap();
/// let hosts = rmpi_launch::hosts::read_hostfile(&path)?;
/// assert_eq!(hosts[0].slots, 2);
/// # std::fs::remove_file(&path).unwrap();
/// assert!(rmpi_launch::hosts::read_hostfile("/no/such/file".as_ref()).is_err());
/// # Ok::<(), String>(())
/// ```
pub fn read_hostfile(path: &Path) -> Result<Vec<Host>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read host file {}: {e}", path.display()))?;
    parse_hostfile(&text)
}

/// Whether `name` is this machine: `localhost`, this machine's host name (short or
/// full), or one of its addresses. Ranks placed there start without ssh.
///
/// ```
/// use rmpi_launch::hosts::is_local;
/// assert!(is_local("localhost"));
/// assert!(is_local("127.0.0.1"));
/// assert!(!is_local("192.0.2.1")); // an address of no host here
/// ```
pub fn is_local(name: &str) -> bool {
    let own = rmpi_core::host::name();
    let own = own.as_str();
    let short = own.split('.').next().unwrap_or(own);
    if name == "localhost" || name == own || name == short {
        return true;
    }
    // An address is this machine's if a socket can be bound to it.
    match name.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback() || std::net::UdpSocket::bind((ip, 0)).is_ok(),
        Err(_) => false,
    }
}

/// How ranks are dealt out to hosts.
///
/// ```
/// use rmpi_launch::hosts::{parse_host_list, place, MapBy};
/// let hosts = parse_host_list("a:2,b:2")?;
/// assert_eq!(place(&hosts, 4, MapBy::Slot), ["a", "a", "b", "b"]);
/// assert_eq!(place(&hosts, 4, MapBy::Node), ["a", "b", "a", "b"]);
/// # Ok::<(), String>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MapBy {
    /// Fill the first host's slots, then the next host's (block placement).
    #[default]
    Slot,
    /// One rank per host in turn, skipping hosts whose slots are full (round-robin).
    Node,
}

/// The host each of `ranks` ranks is placed on. With more ranks than slots, placement
/// starts over as if the hosts had as many slots again (oversubscribing them).
///
/// ```
/// use rmpi_launch::hosts::{parse_host_list, place, MapBy};
/// let hosts = parse_host_list("a:1,b:1")?;
/// // More ranks than slots: placement starts over.
/// assert_eq!(place(&hosts, 3, MapBy::Slot), ["a", "b", "a"]);
/// # Ok::<(), String>(())
/// ```
pub fn place(hosts: &[Host], ranks: usize, map_by: MapBy) -> Vec<String> {
    // The slots in the order they are filled, as far as the job reaches: a host may claim
    // far more slots than there are ranks.
    let slots: Vec<&str> = match map_by {
        MapBy::Slot => hosts
            .iter()
            .flat_map(|host| std::iter::repeat_n(host.name.as_str(), host.slots))
            .take(ranks)
            .collect(),
        MapBy::Node => {
            let most = hosts.iter().map(|h| h.slots).max().unwrap_or(0);
            (0..most)
                .flat_map(|round| hosts.iter().filter(move |h| h.slots > round))
                .map(|host| host.name.as_str())
                .take(ranks)
                .collect()
        }
    };
    if slots.is_empty() {
        return Vec::new();
    }
    (0..ranks)
        .map(|rank| slots[rank % slots.len()].to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn ranks_fill_hosts_by_slots_then_wrap() {
        use super::MapBy::{Node, Slot};
        let hosts = super::parse_host_list("a:2,b,c:1").unwrap();
        assert_eq!(super::place(&hosts, 3, Slot), ["a", "a", "b"]);
        assert_eq!(
            super::place(&hosts, 6, Slot),
            ["a", "a", "b", "c", "a", "a"]
        );
        assert!(super::place(&[], 3, Slot).is_empty());
        // Found by fuzzing: slots far beyond the job's ranks were all listed first.
        let many = super::parse_host_list("a:1000000000000,b").unwrap();
        assert_eq!(super::place(&many, 2, Slot), ["a", "a"]);
        assert_eq!(super::place(&many, 3, Node), ["a", "b", "a"]);
        // Found by fuzzing: a slot count without a host was a host named "".
        for nameless in [":2", "[]:2", "a, :1"] {
            assert!(super::parse_host_list(nameless).is_err(), "{nameless}");
        }
        let hosts = super::parse_host_list("a:3,b,c:2").unwrap();
        assert_eq!(
            super::place(&hosts, 8, Node),
            ["a", "b", "c", "a", "c", "a", "a", "b"]
        );
    }

    use super::*;

    #[test]
    fn parses_the_usual_forms() {
        assert_eq!(
            parse_host_list("h1,h2:4").unwrap(),
            vec![
                Host {
                    name: "h1".into(),
                    slots: 1
                },
                Host {
                    name: "h2".into(),
                    slots: 4
                }
            ]
        );
        let file = "# cluster\nnode1 slots=2\nnode2:3 # fast\n\n10.0.0.5\n";
        let hosts = parse_hostfile(file).unwrap();
        assert_eq!(hosts.iter().map(|h| h.slots).sum::<usize>(), 6);
        assert_eq!(hosts[2].name, "10.0.0.5");
        assert!(parse_host_list("h1:x").is_err());
        assert_eq!(parse_host_list("fe80::1").unwrap()[0].name, "fe80::1");
        assert_eq!(
            parse_host_list("[fe80::1]:2").unwrap(),
            vec![Host {
                name: "fe80::1".into(),
                slots: 2
            }]
        );
        assert!(parse_hostfile("node1 cores=2").is_err());
        assert!(parse_host_list("h1:0").is_err());
        assert!(is_local("localhost") && is_local("127.0.0.1") && is_local("::1"));
        assert!(!is_local("192.0.2.1") && !is_local("node-a"));
    }
}
