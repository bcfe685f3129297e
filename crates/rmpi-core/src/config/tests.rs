use super::*;

#[test]
fn no_variables_is_the_defaults() {
    let none: [(&str, &str); 0] = [];
    assert_eq!(Config::from_vars(none).unwrap(), Config::default());
    // Other programs' variables are not rmpi's business.
    assert_eq!(
        Config::from_vars([("PATH", "/bin")]).unwrap(),
        Config::default()
    );
}

#[test]
fn every_setting_takes_a_good_value() {
    let config = Config::from_vars([
        ("RMPI_TRANSPORT", "shm"),
        ("RMPI_HOST", "node7"),
        ("RMPI_LOG", "rmpi_tcp=debug"),
        ("RMPI_POOL_BYTES", "64MiB"),
        ("RMPI_TCP_ADDRESS", "10.0.0.5"),
        ("RMPI_TCP_BUSY_POLL_US", "0"),
        ("RMPI_SHM_RING_BYTES", "64K"),
        ("RMPI_SHM_FANOUT_BYTES", "0"),
        ("RMPI_SHM_SPIN_US", "7"),
        ("RMPI_SHM_YIELD_US", "9"),
        ("RMPI_SHM_SINGLE_COPY", "off"),
        ("RMPI_BARRIER_ALGORITHM", "flat"),
        ("RMPI_BCAST_ALGORITHM", "scatter_allgather"),
        ("RMPI_ALLGATHER_ALGORITHM", "auto"),
        ("RMPI_ALLREDUCE_ALGORITHM", "segment_owners"),
        ("RMPI_ALLTOALL_ALGORITHM", "pairwise"),
        ("RMPI_RANK", "3"),
    ])
    .unwrap();
    assert_eq!(config.transport, TransportChoice::Shm);
    assert_eq!(config.host.as_deref(), Some("node7"));
    assert_eq!(config.log.as_deref(), Some("rmpi_tcp=debug"));
    assert_eq!(config.pool_bytes, 64 << 20);
    assert_eq!(config.tcp.address, Some("10.0.0.5".parse().unwrap()));
    assert_eq!(config.tcp.busy_poll, Duration::ZERO);
    assert_eq!(config.shm.ring_bytes, Some(64 << 10));
    assert_eq!(config.shm.fanout_bytes, Some(0));
    assert_eq!(config.shm.spin, Duration::from_micros(7));
    assert_eq!(config.shm.yield_for, Duration::from_micros(9));
    assert_eq!(config.shm.single_copy, SingleCopy::Off);
    assert_eq!(config.algorithms.barrier, Some(BarrierAlgorithm::Flat));
    assert_eq!(
        config.algorithms.bcast,
        Some(BcastAlgorithm::ScatterAllgather)
    );
    assert_eq!(config.algorithms.allgather, None);
    assert_eq!(
        config.algorithms.allreduce,
        Some(AllreduceAlgorithm::SegmentOwners)
    );
    assert_eq!(
        config.algorithms.alltoall,
        Some(AlltoallAlgorithm::Pairwise)
    );
}

#[test]
fn a_bad_value_is_an_error_naming_the_variable_and_what_it_expects() {
    for (name, value, expected) in [
        ("RMPI_TRANSPORT", "udp", "one of auto, tcp, shm"),
        ("RMPI_POOL_BYTES", "lots", "a byte count"),
        ("RMPI_POOL_BYTES", "99999999999999999999", "a byte count"),
        ("RMPI_POOL_BYTES", "-1", "a byte count"),
        ("RMPI_TCP_ADDRESS", "example", "an IP address"),
        ("RMPI_TCP_ADDRESS", "0.0.0.0", "not a wildcard"),
        ("RMPI_TCP_BUSY_POLL_US", "soon", "microseconds"),
        (
            "RMPI_SHM_RING_BYTES",
            "5000",
            "a power of two of at least 4096",
        ),
        (
            "RMPI_SHM_RING_BYTES",
            "0",
            "a power of two of at least 4096",
        ),
        ("RMPI_SHM_FANOUT_BYTES", "2048", "0 or a power of two"),
        ("RMPI_SHM_SPIN_US", "1.5", "microseconds"),
        ("RMPI_SHM_YIELD_US", "", "microseconds"),
        (
            "RMPI_SHM_SINGLE_COPY",
            "sometimes",
            "a byte count, auto or off",
        ),
        (
            "RMPI_BCAST_ALGORITHM",
            "pipeline",
            "auto or one of binomial, scatter_allgather, flat",
        ),
    ] {
        let error = Config::from_vars([(name, value)]).unwrap_err().to_string();
        assert!(error.contains(&format!("{name}={value}")), "{error}");
        assert!(error.contains(expected), "{name}: {error}");
    }
}

#[test]
fn a_misspelt_name_is_an_error_offering_the_nearest_setting() {
    let error = Config::from_vars([("RMPI_SHM_RING_BYTE", "4096")])
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("RMPI_SHM_RING_BYTE is not an rmpi setting"),
        "{error}"
    );
    assert!(
        error.contains("did you mean RMPI_SHM_RING_BYTES?"),
        "{error}"
    );
    let error = Config::from_vars([("RMPI_WHATEVER_ELSE", "1")])
        .unwrap_err()
        .to_string();
    assert!(!error.contains("did you mean"), "{error}");
}

#[test]
fn the_documented_table_lists_every_setting_once_in_order() {
    let documented: Vec<&str> = include_str!("mod.rs")
        .lines()
        .filter_map(|line| line.strip_prefix("//! | `"))
        .filter_map(|row| row.split('`').next())
        .filter(|name| name.starts_with("RMPI_"))
        .collect();
    assert_eq!(documented, SETTINGS);
}
