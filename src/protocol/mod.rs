//! The wire protocol: typed requests and responses, and the framing codec that carries them.
//!
//! `message` holds the types every front door shares (REPL, framed TCP, embedding); `codec` turns
//! them into length-prefixed, versioned frames and back. `docs/PROTOCOL.md` describes the bytes.

pub mod codec;
mod message;
pub mod peer;
pub mod vote;

pub use codec::{Frame, FrameCodec, FrameError, MAGIC, MAX_FRAME_LEN, VERSION};
pub use message::{
    ErrorCode, ErrorReply, ExpireCond, ExpireOp, NodeShare, NodeState, NodeStatus, Request,
    Response, RingReport, SetTtl, StatusPage, StatusReport, MAX_HOT_KEYS, MAX_PAGE_KEYS,
    STATUS_KEYS_PER_NODE,
};
pub use vote::{LayoutBallot, Vote};
