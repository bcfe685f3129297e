//! MPI message matching as a plain data structure: no I/O, no locks, no async.
//!
//! Two queues per communication context, as in every MPI implementation:
//!
//! * **posted receives**, in the order they were posted. An arriving message completes the
//!   first posted receive whose [`Pattern`] it fits.
//! * **unexpected messages**, in the order they arrived. A new receive takes the first
//!   unexpected message it fits; a probe looks at it without taking it.
//!
//! Because transports deliver each pair's frames in order and both queues are searched front
//! to back, two messages from one sender that fit the same receive are received in the order
//! they were sent: MPI's non-overtaking rule. Keeping this free of I/O lets it be tested
//! exhaustively and reused unchanged by every transport.

use std::collections::VecDeque;

use rustc_hash::FxHashMap as HashMap;

/// Identifies a posted receive; chosen by the caller, unique among its outstanding receives.
pub type PostId = u64;

/// What a message says about itself for matching.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Envelope {
    /// Communication context (one communicator's point-to-point or collective traffic).
    pub context: u64,
    /// Sender's rank in that communicator.
    pub source: u32,
    /// Message tag, non-negative.
    pub tag: i32,
}

/// What a receive or probe asks for; `None` is a wildcard (`ANY_SOURCE`, `ANY_TAG`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Pattern {
    /// Communication context; never a wildcard.
    pub context: u64,
    /// The sender, or any.
    pub source: Option<u32>,
    /// The tag, or any.
    pub tag: Option<i32>,
}

impl Pattern {
    /// Whether a message with this envelope satisfies the pattern.
    pub fn matches(&self, envelope: &Envelope) -> bool {
        self.context == envelope.context
            && self.source.is_none_or(|s| s == envelope.source)
            && self.tag.is_none_or(|t| t == envelope.tag)
    }
}

/// A message waiting in the unexpected queue, as a probe sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unexpected<'a, M> {
    /// Its envelope.
    pub envelope: &'a Envelope,
    /// The message itself.
    pub message: &'a M,
}

#[derive(Debug)]
struct Queues<M> {
    posted: VecDeque<(PostId, Pattern)>,
    unexpected: VecDeque<(Envelope, M)>,
}

impl<M> Default for Queues<M> {
    fn default() -> Self {
        Queues {
            posted: VecDeque::new(),
            unexpected: VecDeque::new(),
        }
    }
}

impl<M> Queues<M> {
    /// Takes the first posted receive a message of `envelope` fits out of the queue.
    #[inline]
    fn take_posted(&mut self, envelope: &Envelope) -> Option<PostId> {
        let at = self.posted.iter().position(|(_, p)| p.matches(envelope))?;
        Some(remove(&mut self.posted, at).0)
    }
}

/// Removes entry `at` of `queue`, which must be in range. Usually the first: then a pop,
/// which costs a fraction of a general removal.
fn remove<T>(queue: &mut VecDeque<T>, at: usize) -> T {
    let removed = match at {
        0 => queue.pop_front(),
        _ => queue.remove(at),
    };
    removed.expect("position is in range")
}

/// Posted-receive and unexpected-message queues for any number of contexts. `M` is whatever
/// the caller stores per message (a frame, or a test's label).
#[derive(Debug)]
pub struct Matcher<M> {
    /// Each context's queues, in the order the contexts were first seen. A context is never
    /// forgotten, so its place here stays good.
    queues: Vec<Queues<M>>,
    /// Where each context's queues are in `queues`.
    contexts: HashMap<u64, usize>,
    /// The context looked up last and where its queues are: most messages and receives in
    /// a row are on one context, and this spares them the hash.
    last: Option<(u64, usize)>,
}

impl<M> Default for Matcher<M> {
    fn default() -> Self {
        Matcher {
            queues: Vec::new(),
            contexts: HashMap::default(),
            last: None,
        }
    }
}

impl<M> Matcher<M> {
    /// An empty matcher.
    pub fn new() -> Self {
        Self::default()
    }

    /// Where the queues of `context` are, if it has any.
    fn find(&mut self, context: u64) -> Option<usize> {
        match self.last {
            Some((last, at)) if last == context => Some(at),
            _ => {
                let at = *self.contexts.get(&context)?;
                self.last = Some((context, at));
                Some(at)
            }
        }
    }

    /// The queues of `context`, made empty if it has none yet.
    fn queues_of(&mut self, context: u64) -> &mut Queues<M> {
        let at = match self.find(context) {
            Some(at) => at,
            None => {
                let at = self.queues.len();
                self.queues.push(Queues::default());
                self.contexts.insert(context, at);
                self.last = Some((context, at));
                at
            }
        };
        &mut self.queues[at]
    }

    /// A message arrived: hand it to the first posted receive it fits, returning that
    /// receive's id, or queue it as unexpected and return `None`.
    pub fn arrive(&mut self, envelope: Envelope, message: M) -> Option<(PostId, Envelope, M)> {
        let queues = self.queues_of(envelope.context);
        match queues.take_posted(&envelope) {
            Some(id) => Some((id, envelope, message)),
            None => {
                queues.unexpected.push_back((envelope, message));
                None
            }
        }
    }

    /// Takes the posted receive a message of `envelope` arriving now would match out of the
    /// posted queue, if `wanted` says yes to its id, and returns that id.
    pub fn take_first_if(
        &mut self,
        envelope: &Envelope,
        wanted: impl FnOnce(PostId) -> bool,
    ) -> Option<PostId> {
        let at = self.find(envelope.context)?;
        let posted = &mut self.queues[at].posted;
        // Usually the receive is the first posted, and the message fits it.
        let at = match posted.front() {
            Some((_, pattern)) if pattern.matches(envelope) => 0,
            _ => posted.iter().position(|(_, p)| p.matches(envelope))?,
        };
        let id = posted[at].0;
        if !wanted(id) {
            return None;
        }
        remove(posted, at);
        Some(id)
    }

    /// A receive was posted: take the first unexpected message it fits, or queue the receive
    /// and return `None`.
    pub fn post(&mut self, id: PostId, pattern: Pattern) -> Option<(Envelope, M)> {
        let queues = self.queues_of(pattern.context);
        if queues.unexpected.is_empty() {
            queues.posted.push_back((id, pattern));
            return None;
        }
        match queues
            .unexpected
            .iter()
            .position(|(e, _)| pattern.matches(e))
        {
            Some(at) => Some(remove(&mut queues.unexpected, at)),
            None => {
                queues.posted.push_back((id, pattern));
                None
            }
        }
    }

    /// Puts back a message whose receive was withdrawn after it matched: to the first
    /// posted receive it fits, whose id is returned with it, or else into the unexpected
    /// queue before the first message that `arrived_later` says came after it. Order is
    /// kept: a receive still posted cannot have been passed a later message it fits.
    pub fn give_back(
        &mut self,
        envelope: Envelope,
        message: M,
        arrived_later: impl Fn(&M) -> bool,
    ) -> Option<(PostId, M)> {
        let queues = self.queues_of(envelope.context);
        if let Some(id) = queues.take_posted(&envelope) {
            return Some((id, message));
        }
        let unexpected = &mut queues.unexpected;
        let at = unexpected
            .iter()
            .position(|(_, m)| arrived_later(m))
            .unwrap_or(unexpected.len());
        unexpected.insert(at, (envelope, message));
        None
    }

    /// The first unexpected message that fits `pattern`, left in place.
    pub fn probe(&self, pattern: &Pattern) -> Option<Unexpected<'_, M>> {
        let at = *self.contexts.get(&pattern.context)?;
        self.queues[at]
            .unexpected
            .iter()
            .find(|(e, _)| pattern.matches(e))
            .map(|(envelope, message)| Unexpected { envelope, message })
    }

    /// Withdraws a posted receive that has not matched yet; `false` if there was none.
    pub fn cancel(&mut self, context: u64, id: PostId) -> bool {
        let Some(at) = self.find(context) else {
            return false;
        };
        let queues = &mut self.queues[at];
        match queues.posted.iter().position(|(posted, _)| *posted == id) {
            Some(at) => {
                queues.posted.remove(at);
                true
            }
            None => false,
        }
    }

    /// Withdraws every posted receive for which `doomed` says yes, returning their ids in
    /// posting order (used to fail receives that wait on a peer that is gone).
    pub fn withdraw_where(
        &mut self,
        mut doomed: impl FnMut(PostId, &Pattern) -> bool,
    ) -> Vec<PostId> {
        let mut withdrawn = Vec::new();
        for queues in &mut self.queues {
            queues.posted.retain(|(id, pattern)| {
                let drop = doomed(*id, pattern);
                if drop {
                    withdrawn.push(*id);
                }
                !drop
            });
        }
        withdrawn
    }

    /// Number of receives posted and not yet matched.
    pub fn posted_len(&self) -> usize {
        self.queues.iter().map(|q| q.posted.len()).sum()
    }

    /// Number of messages that arrived and were not yet received.
    pub fn unexpected_len(&self) -> usize {
        self.queues.iter().map(|q| q.unexpected.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(source: u32, tag: i32) -> Envelope {
        Envelope {
            context: 0,
            source,
            tag,
        }
    }

    fn pat(source: Option<u32>, tag: Option<i32>) -> Pattern {
        Pattern {
            context: 0,
            source,
            tag,
        }
    }

    #[test]
    fn arrival_completes_first_fitting_posted_receive() {
        let mut m = Matcher::new();
        assert!(m.post(1, pat(Some(1), Some(5))).is_none());
        assert!(m.post(2, pat(None, None)).is_none());
        assert!(m.post(3, pat(Some(0), None)).is_none());
        // Fits 2 and 3; 2 was posted first.
        assert_eq!(m.arrive(env(0, 9), "a"), Some((2, env(0, 9), "a")));
        assert_eq!(m.arrive(env(0, 9), "b"), Some((3, env(0, 9), "b")));
        assert_eq!(m.arrive(env(1, 4), "c"), None);
        assert_eq!(m.arrive(env(1, 5), "d"), Some((1, env(1, 5), "d")));
        assert_eq!((m.posted_len(), m.unexpected_len()), (0, 1));
    }

    #[test]
    fn receive_takes_first_fitting_unexpected_message() {
        let mut m = Matcher::new();
        m.arrive(env(0, 1), "a");
        m.arrive(env(1, 2), "b");
        m.arrive(env(0, 2), "c");
        assert_eq!(m.probe(&pat(None, Some(2))).map(|u| *u.message), Some("b"));
        assert_eq!(m.post(7, pat(Some(0), Some(2))), Some((env(0, 2), "c")));
        assert_eq!(m.post(8, pat(None, None)), Some((env(0, 1), "a")));
        assert_eq!(m.post(9, pat(None, None)), Some((env(1, 2), "b")));
        assert_eq!(m.post(10, pat(None, None)), None);
        assert!(m.cancel(0, 10));
        assert!(!m.cancel(0, 10));
    }

    /// Whether receive `id` was the one to take a message of `envelope`, and was taken.
    fn take(m: &mut Matcher<&str>, envelope: &Envelope, id: PostId) -> bool {
        m.take_first_if(envelope, |first| first == id) == Some(id)
    }

    #[test]
    fn take_first_if_takes_only_the_receive_the_message_would_match() {
        let mut m: Matcher<&str> = Matcher::new();
        assert_eq!(m.post(1, pat(Some(1), Some(5))), None);
        assert_eq!(m.post(2, pat(None, None)), None);
        assert_eq!(m.post(3, pat(Some(2), Some(5))), None);
        // From rank 1: receive 1, at the front, is the one it would match.
        assert!(!take(&mut m, &env(1, 5), 2));
        assert!(take(&mut m, &env(1, 5), 1));
        // From rank 2: receive 2 (a wildcard) comes before receive 3.
        assert!(!take(&mut m, &env(2, 5), 3));
        assert_eq!(m.posted_len(), 2);
        assert!(take(&mut m, &env(2, 5), 2));
        // Now receive 3 is first; a message it does not fit takes nothing.
        assert!(!take(&mut m, &env(4, 5), 3));
        assert!(take(&mut m, &env(2, 5), 3));
        assert_eq!(m.posted_len(), 0);
        // Behind a receive the message does not fit.
        assert_eq!(m.post(4, pat(Some(7), None)), None);
        assert_eq!(m.post(5, pat(None, Some(9))), None);
        assert!(take(&mut m, &env(3, 9), 5));
        assert_eq!(m.arrive(env(7, 0), "late"), Some((4, env(7, 0), "late")));
        // No receives posted on the context at all.
        let other = Envelope {
            context: 1,
            ..env(7, 0)
        };
        assert!(!take(&mut m, &other, 4));
    }

    #[test]
    fn contexts_never_match_each_other() {
        let mut m = Matcher::new();
        let other = Envelope {
            context: 1,
            source: 0,
            tag: 3,
        };
        m.arrive(other, "elsewhere");
        assert_eq!(m.post(1, pat(None, None)), None);
        assert_eq!(m.arrive(env(0, 3), "here"), Some((1, env(0, 3), "here")));
        assert_eq!(m.unexpected_len(), 1);
    }

    #[test]
    fn withdraw_where_keeps_the_rest_in_order() {
        let mut m: Matcher<()> = Matcher::new();
        for id in 0..6 {
            m.post(id, pat(Some(id as u32 % 2), None));
        }
        assert_eq!(m.withdraw_where(|_, p| p.source == Some(1)), vec![1, 3, 5]);
        assert_eq!(m.arrive(env(0, 0), ()).map(|(id, ..)| id), Some(0));
        assert_eq!(m.arrive(env(0, 0), ()).map(|(id, ..)| id), Some(2));
    }
}
