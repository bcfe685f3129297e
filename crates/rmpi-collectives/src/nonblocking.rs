//! How collectives run as [`Request`]s: [`start`] runs any collective as a task of its own,
//! and two macros write the trait's nonblocking methods from one line each, so each
//! nonblocking collective is its blocking namesake's body started at call time.

use std::future::Future;

use bytemuck::Pod;
use rmpi_core::{Error, Request, Result};

use crate::buffers::Buffers;

/// Runs a collective (or any communication future) as a [`Request`]: on a tokio runtime it is
/// spawned as a task and progresses on its own; elsewhere it progresses when the request is
/// awaited or tested.
///
/// ```
/// # use rmpi::prelude::*; rmpi::local::run(2, |comm| async move {
/// use rmpi::collectives::start;
/// // Any communication future, run as a request of its own.
/// let sum = start(comm.allreduce(comm.rank() + 1, Sum));
/// assert_eq!(sum.await?, 3);
/// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
/// ```
pub fn start<T: Send + 'static>(
    operation: impl Future<Output = Result<T>> + Send + 'static,
) -> Request<'static, T> {
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            let task = runtime.spawn(operation);
            Request::new(async move {
                task.await
                    .map_err(|e| Error::InvalidArgument(format!("collective task failed: {e}")))?
            })
        }
        Err(_) => Request::new(operation),
    }
}

/// A typed-buffer collective that borrows its buffers, as `run` starts it on them.
pub(crate) type OnBuffers<'b> = std::pin::Pin<Box<dyn Future<Output = Result<()>> + Send + 'b>>;

/// Runs a typed-buffer collective on buffers it owns, as [`start`] runs any, and hands the
/// buffers back when it is done: the one shape of every nonblocking typed-buffer
/// collective.
pub(crate) fn start_owned<T, F>(send: Vec<T>, recv: Vec<T>, run: F) -> Request<'static, Buffers<T>>
where
    T: Pod + Send + Sync,
    F: for<'b> FnOnce(&'b [T], &'b mut [T]) -> OnBuffers<'b> + Send + 'static,
{
    start(async move {
        let (send, mut recv) = (send, recv);
        run(&send, &mut recv).await?;
        Ok(Buffers { send, recv })
    })
}

/// Writes nonblocking object collectives, each `fn name[generics](args) -> Output = blocking;`:
/// the method starts the blocking collective of that name (which reserves its place in the
/// collective order when called) as a request.
macro_rules! objects {
    ($(
        $(#[$doc:meta])*
        fn $name:ident[$($generics:tt)*]($($arg:ident: $ty:ty),*) -> $out:ty = $blocking:ident;
    )*) => {$(
        $(#[$doc])*
        #[track_caller]
        fn $name<$($generics)*>(&self, $($arg: $ty),*) -> Request<'static, $out> {
            start(self.$blocking($($arg),*))
        }
    )*};
}

/// Writes nonblocking typed-buffer collectives, each
/// `fn name[generics](args) = start |round, algorithms, send, recv| body;`: the method reserves
/// its round with `Round::start` (or `start_bcast`) at call time, then runs `body` on the
/// owned `send` and `recv` buffers, lent to it as slices, and hands them back as
/// [`Buffers`].
macro_rules! buffers {
    ($(
        $(#[$doc:meta])*
        fn $name:ident[$($generics:tt)*]($($arg:ident: $ty:ty),*)
            = $start:ident |$round:ident, $algorithms:pat_param, $send:ident, $recv:ident| $body:expr;
    )*) => {$(
        $(#[$doc])*
        #[track_caller]
        fn $name<$($generics)*>(&self, $($arg: $ty),*) -> Request<'static, Buffers<T>> {
            let operation = Operation::collective(stringify!($name), None);
            let ($round, $algorithms) = (Round::$start(self.comm(), operation), self.algorithms());
            start_owned($send, $recv, move |$send, $recv| Box::pin($body))
        }
    )*};
}

pub(crate) use {buffers, objects};
