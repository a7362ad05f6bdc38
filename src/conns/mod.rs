//! Connection pass (zero-drain upgrades): once the new generation is ready,
//! the old one hands it its live connections — each an fd, a tag and the
//! application's state (bytes read but not processed, say) — over the
//! readiness channel that started it, instead of closing them in a drain.
//!
//! The new generation opts in with [`enable`] before it reports ready; its
//! ready frame then says it takes connections (bit
//! [`proto::conns::READY_TAKES_CONNS`](crate::proto::conns::READY_TAKES_CONNS)
//! of the status) and both sides keep the channel open. A library thread in
//! the new generation receives batches, acknowledges them, and queues the
//! connections once the old side commits them; each commit posts
//! [`crate::events::CONNS`] on the event fd, and [`next`] hands them out.
//!
//! The old side's [`pass`] blocks (up to its timeout) batch by batch:
//! send, wait for the ACK, commit. Ownership moves at COMMIT only, so a new
//! generation that dies or stalls mid-pass leaves the connections not yet
//! committed with the old one — [`pass`] says how many went — which drains
//! them as before. Wire format: `proto::conns`.
//!
//! Between unrelated processes (hand-off), the taker that enabled the pass
//! makes a seqpacket socketpair when it reports ready and sends one end with
//! the hand-off CONNS frame right after READY; the old side adopts it
//! ([`adopt_handoff`]) and the same pass runs over it.

mod receive;
mod send;

pub(crate) use crate::proto::conns::{BATCH_MAX, STATE_MAX};
pub(crate) use receive::{enable, next, pending};
pub(crate) use send::{can_pass, pass, release, Item};

pub(crate) use receive::{adopt_channel as keep_ready_channel, is_enabled, ready_status, set_handoff_pending, start_receiving};
pub(crate) use send::{adopt as keep_waiter, adopt_handoff, note_ready};
