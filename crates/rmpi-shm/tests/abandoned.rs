//! A rank whose endpoint goes away without shutting down (a failing rank) is reported lost
//! to its peers at once, after what it sent before: also when ranks are threads of one
//! process, where nobody would otherwise notice and its peers would wait forever.

use std::sync::Arc;

use rmpi_core::{Comm, Error};
use rmpi_shm::{ShmOptions, ShmTransport};

#[test]
fn a_dropped_endpoint_is_a_lost_peer() {
    let mut ranks = ShmTransport::mesh(2, &ShmOptions::default()).expect("joins");
    let (second, first) = (ranks.pop().unwrap(), ranks.pop().unwrap());
    let outcome = std::thread::scope(|scope| {
        let failing = scope.spawn(move || {
            let shm = second;
            let comm = Comm::from_transport(Arc::new(shm));
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("a runtime");
            runtime
                .block_on(comm.send(&"last words".to_string(), 0, 1))
                .expect("sends");
            // No finalize: the endpoint is dropped here, as a failing rank's would be.
        });
        let waiting = scope.spawn(move || {
            let shm = first;
            let comm = Comm::from_transport(Arc::new(shm));
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .expect("a runtime");
            runtime.block_on(async {
                let said: String = comm.recv(1, 1).await?;
                assert_eq!(said, "last words");
                let never = comm.recv::<String>(1, 2);
                tokio::time::timeout(std::time::Duration::from_secs(20), never)
                    .await
                    .map_err(|_| Error::InvalidArgument("still waiting after 20 s".into()))?
            })
        });
        failing.join().expect("no panic");
        waiting.join().expect("no panic")
    });
    match outcome {
        Err(Error::PeerLost { rank: 1 }) => {}
        other => panic!("expected rank 1 lost, got {other:?}"),
    }
}
