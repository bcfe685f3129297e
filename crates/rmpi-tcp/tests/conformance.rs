//! The TCP transport passes every conformance check, over loopback.

use std::sync::Arc;

use rmpi_conformance::{Backend, Joining};
use rmpi_core::bootstrap::InProcess;
use rmpi_tcp::{TcpOptions, TcpTransport};

struct Tcp;

impl Backend for Tcp {
    fn join(&self, bootstrap: InProcess) -> Joining {
        Box::pin(async move {
            let transport = TcpTransport::establish(&bootstrap, &TcpOptions::default()).await?;
            Ok(Arc::new(transport) as _)
        })
    }
}

rmpi_conformance::tests!(Tcp);
