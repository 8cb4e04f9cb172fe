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
//! A process that is part of a cluster of processes also keeps the address it advertises, the
//! ring epoch and the nodes of the other processes, so that it rejoins on its own after a restart:
//! ```text
//! advertise 127.0.0.2
//! epoch 4
//! remote 2147483650 127.0.0.1:5001 127.0.0.1:5001
//! ```
//! It is rewritten atomically (temporary file, fsync, rename, fsync of the directory) after every
//! membership change, so it is always either the old or the new membership.

use std::net::{IpAddr, SocketAddr};

use crate::error::{Error, Result};
use crate::layout::Member;
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
    /// For a process of a cluster of processes: what it needs to rejoin.
    pub peers: Option<StoredPeers>,
}

/// What a process of a cluster of processes remembers of the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPeers {
    /// The address this process advertises.
    pub advertise: IpAddr,
    /// The ring epoch it last knew.
    pub epoch: u64,
    /// The nodes of the other processes, by id.
    pub remote: Vec<(NodeId, Member)>,
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
        if let Some(p) = &self.peers {
            out.push_str(&format!("advertise {}\nepoch {}\n", p.advertise, p.epoch));
            for (id, m) in &p.remote {
                out.push_str(&format!("remote {id} {} {}\n", m.addr, m.process));
            }
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
            peers: None,
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
                "advertise" | "epoch" | "remote" => peer_line(&mut meta, &words, line)?,
                _ => return Err(bad(line)),
            }
        }
        if meta.nodes.is_empty() || meta.vnodes == 0 || meta.replicas == 0 {
            return Err(bad("no nodes, vnodes or replicas"));
        }
        Ok(meta)
    }
}

/// Reads one of the lines of a process of a cluster of processes.
fn peer_line(meta: &mut ClusterMeta, words: &[&str], line: &str) -> Result<()> {
    let word = |i: usize| words.get(i).copied().ok_or_else(|| bad(line));
    let peers = meta.peers.get_or_insert(StoredPeers {
        advertise: IpAddr::from([127, 0, 0, 1]),
        epoch: 0,
        remote: Vec::new(),
    });
    match words[0] {
        "advertise" => peers.advertise = word(1)?.parse().map_err(|_| bad(line))?,
        "epoch" => peers.epoch = word(1)?.parse().map_err(|_| bad(line))?,
        _ => {
            let id: NodeId = word(1)?.parse().map_err(|_| bad(line))?;
            let addr: SocketAddr = word(2)?.parse().map_err(|_| bad(line))?;
            let process: SocketAddr = word(3)?.parse().map_err(|_| bad(line))?;
            peers.remote.push((id, Member { addr, process }));
        }
    }
    Ok(())
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
            peers: None,
        };
        assert_eq!(ClusterMeta::parse(&meta.to_text()).unwrap(), meta);
        let member = Member {
            addr: "127.0.0.2:5001".parse().unwrap(),
            process: "127.0.0.2:5001".parse().unwrap(),
        };
        let joined = ClusterMeta {
            peers: Some(StoredPeers {
                advertise: "127.0.0.3".parse().unwrap(),
                epoch: 7,
                remote: vec![(2_147_483_650, member)],
            }),
            ..meta
        };
        assert_eq!(ClusterMeta::parse(&joined.to_text()).unwrap(), joined);
    }

    #[test]
    fn damage_is_an_error() {
        assert!(ClusterMeta::parse("").is_err());
        assert!(ClusterMeta::parse("ringkv-cluster 1\nvnodes x\n").is_err());
        assert!(ClusterMeta::parse("ringkv-cluster 1\nvnodes 1\nreplicas 1\n").is_err());
        assert!(ClusterMeta::parse("ringkv-cluster 1\nnode 99999999999 1\n").is_err());
    }
}
