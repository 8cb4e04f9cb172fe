//! `cluster.meta`: the membership a data directory belongs to, as a small text file.
//!
//! ```text
//! ringkv-cluster 1
//! vnodes 160
//! replicas 3
//! next-id 4
//! node 1 5001
//! node 3 5003
//! ```
//! It is rewritten atomically (temporary file, fsync, rename, fsync of the directory) after every
//! membership change, so it is always either the old or the new membership.

use crate::error::{Error, Result};
use crate::ring::NodeId;

/// The file name inside the data directory.
pub const META_FILE: &str = "cluster.meta";
const HEADER: &str = "ringkv-cluster 1";

/// The stored membership of a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterMeta {
    /// Virtual nodes per node on the ring.
    pub vnodes: u32,
    /// R.
    pub replicas: usize,
    /// The id the next added node gets.
    pub next_id: NodeId,
    /// Every member's id and port, by id.
    pub nodes: Vec<(NodeId, u16)>,
}

impl ClusterMeta {
    /// The file's text.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "{HEADER}\nvnodes {}\nreplicas {}\nnext-id {}\n",
            self.vnodes, self.replicas, self.next_id
        );
        for (id, port) in &self.nodes {
            out.push_str(&format!("node {id} {port}\n"));
        }
        out
    }

    /// Parses the file's text.
    ///
    /// # Errors
    /// [`Error::Storage`] naming the first line that is not understood.
    pub fn parse(text: &str) -> Result<ClusterMeta> {
        let mut lines = text.lines();
        if lines.next() != Some(HEADER) {
            return Err(bad("the first line is not '{HEADER}'"));
        }
        let mut meta = ClusterMeta {
            vnodes: 0,
            replicas: 0,
            next_id: 1,
            nodes: Vec::new(),
        };
        for line in lines.filter(|l| !l.trim().is_empty()) {
            let words: Vec<&str> = line.split_whitespace().collect();
            let number = |i: usize| -> Result<u64> {
                let word = words.get(i).ok_or_else(|| bad(line))?;
                word.parse().map_err(|_| bad(line))
            };
            match words[0] {
                "vnodes" => meta.vnodes = to(number(1)?, line)?,
                "replicas" => meta.replicas = to(number(1)?, line)?,
                "next-id" => meta.next_id = to(number(1)?, line)?,
                "node" => meta
                    .nodes
                    .push((to(number(1)?, line)?, to(number(2)?, line)?)),
                _ => return Err(bad(line)),
            }
        }
        if meta.nodes.is_empty() || meta.vnodes == 0 || meta.replicas == 0 {
            return Err(bad("no nodes, vnodes or replicas"));
        }
        Ok(meta)
    }
}

fn to<T: TryFrom<u64>>(n: u64, line: &str) -> Result<T> {
    T::try_from(n).map_err(|_| bad(line))
}

fn bad(what: &str) -> Error {
    Error::Storage(format!("{META_FILE} is damaged: cannot read '{what}'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trips() {
        let meta = ClusterMeta {
            vnodes: 160,
            replicas: 3,
            next_id: 5,
            nodes: vec![(1, 5001), (4, 0)],
        };
        assert_eq!(ClusterMeta::parse(&meta.to_text()).unwrap(), meta);
    }

    #[test]
    fn damage_is_an_error() {
        assert!(ClusterMeta::parse("").is_err());
        assert!(ClusterMeta::parse("ringkv-cluster 1\nvnodes x\n").is_err());
        assert!(ClusterMeta::parse("ringkv-cluster 1\nvnodes 1\nreplicas 1\n").is_err());
        assert!(ClusterMeta::parse("ringkv-cluster 1\nnode 99999999999 1\n").is_err());
    }
}
