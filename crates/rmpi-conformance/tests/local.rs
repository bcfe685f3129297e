//! The in-process transport passes every conformance check.

use rmpi_conformance::{local_endpoint, Backend, Joining};
use rmpi_core::bootstrap::InProcess;

struct Local;

impl Backend for Local {
    fn join(&self, bootstrap: InProcess) -> Joining {
        Box::pin(async move { local_endpoint(&bootstrap) })
    }
}

rmpi_conformance::tests!(Local);
