//! The shared-memory transport passes every conformance check.

use std::sync::Arc;

use rmpi_conformance::{Backend, Joining};
use rmpi_core::bootstrap::InProcess;
use rmpi_shm::{ShmOptions, ShmTransport};

struct Shm;

impl Backend for Shm {
    fn join(&self, bootstrap: InProcess) -> Joining {
        Box::pin(async move {
            let transport = ShmTransport::establish(&bootstrap, &ShmOptions::default())?;
            Ok(Arc::new(transport) as _)
        })
    }
}

rmpi_conformance::tests!(Shm);
