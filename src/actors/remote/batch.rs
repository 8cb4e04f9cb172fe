//! The frames a link writes for the calls waiting in its queue: small merges (the direct path's
//! one-key merges of updates) go out as one `Merge` of many entries, so the node at the other end
//! takes one call, one node message and one log write for a batch of updates rather than one per
//! update. Every other call gets its own frame, and the calls keep their order.

use bytes::BytesMut;

use super::chunk::{entry_bytes, MERGE_CHUNK_BYTES};
use super::link::{Answer, Outgoing};
use crate::error::Result;
use crate::protocol::codec::{encode, write_frame};
use crate::protocol::peer::{WireOp, WireReply};
use crate::protocol::Request;
use crate::store::Entry;

/// Who waits for the answer of one frame: one call, or every merge combined into it.
pub enum Waiter {
    /// One call.
    One(Answer),
    /// The calls whose merges went out together; each gets the one answer.
    Many(Vec<Answer>),
}

impl Waiter {
    /// Hands `answer` to whoever waits.
    pub fn answer(self, answer: Result<WireReply>) {
        match self {
            Waiter::One(to) => {
                let _ = to.send(answer);
            }
            Waiter::Many(all) => {
                for to in all {
                    let _ = to.send(answer.clone());
                }
            }
        }
    }
}

/// Frames being written into one buffer, each with the number of its first call as its id.
pub struct Frames<'a> {
    buf: &'a mut BytesMut,
    /// The frames written, with who waits for each.
    pub written: Vec<(u64, Waiter)>,
    merged: Vec<Entry>,
    merged_for: Vec<Answer>,
    merged_first: u64,
    merged_bytes: usize,
}

impl<'a> Frames<'a> {
    /// Frames to be written into `buf`.
    pub fn new(buf: &'a mut BytesMut) -> Self {
        Frames {
            buf,
            written: Vec::new(),
            merged: Vec::new(),
            merged_for: Vec::new(),
            merged_first: 0,
            merged_bytes: 0,
        }
    }

    /// Adds a call: a small merge joins the merge being gathered, anything else is written after it.
    pub fn push(&mut self, call: Outgoing) {
        let Outgoing { seq, op, answer } = call;
        match op {
            WireOp::Merge {
                entries,
                hint_for: None,
            } if small(&entries) => {
                let bytes: usize = entries.iter().map(entry_bytes).sum();
                if self.merged_bytes + bytes > MERGE_CHUNK_BYTES {
                    self.flush();
                }
                if self.merged_for.is_empty() {
                    self.merged_first = seq;
                }
                self.merged_bytes += bytes;
                self.merged.extend(entries);
                self.merged_for.push(answer);
            }
            op => {
                self.flush();
                self.write(seq, op, Waiter::One(answer));
            }
        }
    }

    /// Writes the merge gathered so far, if any.
    pub fn flush(&mut self) {
        if self.merged_for.is_empty() {
            return;
        }
        let op = WireOp::Merge {
            entries: std::mem::take(&mut self.merged),
            hint_for: None,
        };
        let waiter = match self.merged_for.len() {
            1 => Waiter::One(self.merged_for.remove(0)),
            _ => Waiter::Many(std::mem::take(&mut self.merged_for)),
        };
        self.merged_bytes = 0;
        self.write(self.merged_first, op, waiter);
    }

    fn write(&mut self, id: u64, op: WireOp, waiter: Waiter) {
        match encode(&Request::NodeCall(op)) {
            Ok(body) => {
                write_frame(id, &body, self.buf);
                self.written.push((id, waiter));
            }
            Err(e) => waiter.answer(Err(e)),
        }
    }
}

/// Whether a merge is small enough to join others (a direct update's merge is one entry).
fn small(entries: &[Entry]) -> bool {
    entries.len() <= 4
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::counter::Counter;
    use crate::protocol::FrameCodec;
    use tokio::sync::oneshot;
    use tokio_util::codec::Decoder;

    fn merge(key: &str) -> WireOp {
        let mut counter = Counter::new();
        counter.increment(1, 1).unwrap();
        let entries = vec![Entry {
            key: key.into(),
            counter,
        }];
        WireOp::Merge {
            entries,
            hint_for: None,
        }
    }

    fn call(seq: u64, op: WireOp) -> (Outgoing, oneshot::Receiver<Result<WireReply>>) {
        let (answer, reply) = oneshot::channel();
        (Outgoing { seq, op, answer }, reply)
    }

    /// The requests in `buf`, with their frame ids.
    fn frames(buf: &mut BytesMut) -> Vec<(u64, Request)> {
        let mut codec = FrameCodec::new(1 << 20);
        let mut out = Vec::new();
        while let Some(frame) = codec.decode(buf).unwrap() {
            out.push((frame.id, frame.decode::<Request>().unwrap()));
        }
        out
    }

    #[test]
    fn small_merges_go_out_as_one_and_other_calls_keep_their_place() {
        let mut buf = BytesMut::new();
        let mut replies = Vec::new();
        let mut written = {
            let mut frames = Frames::new(&mut buf);
            for (seq, op) in [
                (1, merge("a")),
                (2, merge("b")),
                (3, WireOp::Dump),
                (4, merge("c")),
            ] {
                let (outgoing, reply) = call(seq, op);
                frames.push(outgoing);
                replies.push(reply);
            }
            frames.flush();
            std::mem::take(&mut frames.written)
        };
        let sent = frames(&mut buf);
        let ids: Vec<u64> = sent.iter().map(|(id, _)| *id).collect();
        assert_eq!(
            ids,
            [1, 3, 4],
            "a frame carries the number of its first call"
        );
        let Request::NodeCall(WireOp::Merge { entries, .. }) = &sent[0].1 else {
            panic!("a merge first: {:?}", sent[0].1)
        };
        let keys: Vec<&str> = entries.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["a", "b"]);
        assert!(matches!(sent[1].1, Request::NodeCall(WireOp::Dump)));

        // The combined frame's one answer reaches both of its calls.
        let (_, first) = written.remove(0);
        first.answer(Ok(WireReply::Count(2)));
        for reply in replies.iter_mut().take(2) {
            assert_eq!(reply.try_recv().unwrap(), Ok(WireReply::Count(2)));
        }
        assert!(
            replies[2].try_recv().is_err(),
            "the dump is not answered yet"
        );
    }
}
