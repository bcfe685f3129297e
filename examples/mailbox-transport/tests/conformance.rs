//! The example transport passes rmpi's conformance checks.

use std::sync::Arc;

use rmpi::transport::InProcess;
use rmpi_conformance::{Backend, Joining};
use rmpi_example_mailbox::Mailbox;

struct Mailboxes;

impl Backend for Mailboxes {
    fn join(&self, bootstrap: InProcess) -> Joining {
        Box::pin(async move { Ok(Arc::new(Mailbox::join(&bootstrap)) as _) })
    }
}

rmpi_conformance::tests!(Mailboxes);
