//! Probes: what the next matching message is, without receiving it.

use std::future::Future;

use super::Comm;
use crate::error::Result;
use crate::status::{Source, Status, TagFilter};

impl Comm {
    // --- probes ----------------------------------------------------------------------------

    /// Waits until a matching message has arrived and describes it without receiving it
    /// (`MPI_Probe`): the next receive with the same source and the status's tag gets it.
    #[track_caller]
    pub fn probe(
        &self,
        source: impl Into<Source>,
        tag: impl Into<TagFilter>,
    ) -> impl Future<Output = Result<Status>> + Send + 'static {
        let (source, tag) = (source.into(), tag.into());
        let started = self.pattern(source, tag);
        let engine = self.engine().clone();
        self.traced(super::receiving("probe", source, tag), async move {
            let (pattern, awaited) = started?;
            let (envelope, bytes) =
                std::future::poll_fn(|cx| engine.poll_probe(&pattern, &awaited, cx)).await?;
            Ok(Status {
                source: envelope.source as usize,
                tag: envelope.tag,
                bytes,
            })
        })
    }

    /// Describes a matching message if one has arrived, without waiting (`MPI_Iprobe`).
    pub fn iprobe(
        &self,
        source: impl Into<Source>,
        tag: impl Into<TagFilter>,
    ) -> Result<Option<Status>> {
        let (pattern, _) = self.pattern(source.into(), tag.into())?;
        Ok(self
            .engine()
            .iprobe(&pattern)
            .map(|(envelope, bytes)| Status {
                source: envelope.source as usize,
                tag: envelope.tag,
                bytes,
            }))
    }
}
