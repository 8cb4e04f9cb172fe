//! `status --all`: the whole `status` listing, fetched page by page, so that no single answer is
//! large and a store of millions of keys can be listed by a client that reads as it goes.
//!
//! A plain `status` lists at most [`STATUS_KEYS_PER_NODE`] keys per node and counts the rest
//! (`... and N more keys`). `status --all` asks for the same `Status` report, then for each node
//! the keys it owns and then its further replicas in pages of [`MAX_PAGE_KEYS`]
//! ([`Request::StatusPage`], each page after the last key of the one before), and prints them in
//! the layout of `status`. A key present for the whole walk is printed exactly once; keys written
//! or moved during it may or may not be.

use std::future::Future;

use crate::error::{Error, Result};
use crate::protocol::{NodeStatus, Request, Response, StatusPage, StatusReport, MAX_PAGE_KEYS};
use crate::render::{node_footer, node_header, render, status_footer, status_header};

/// Prints the whole status through `emit`, one piece of text at a time (each a line or lines,
/// without a final newline), asking the cluster through `ask`.
///
/// # Errors
/// The first error answer, or an answer of the wrong kind.
pub async fn status_all<F, Fut>(mut ask: F, mut emit: impl FnMut(&str)) -> Result<()>
where
    F: FnMut(Request) -> Fut,
    Fut: Future<Output = Result<Response>>,
{
    let report = first_report(&mut ask).await?;
    emit(&status_header(&report));
    for (i, node) in report.nodes.iter().enumerate() {
        if i > 0 {
            emit("");
        }
        emit(&node_header(node));
        let listed = node_keys(&mut ask, &mut emit, node).await?;
        if listed == 0 {
            emit("No events");
        }
        if let Some(hints) = node_footer(node) {
            emit(&hints);
        }
    }
    footer(&report, emit);
    Ok(())
}

/// Prints every key of `node`: the ones it owns, then its further replicas. Returns how many.
async fn node_keys<F, Fut>(
    ask: &mut F,
    emit: &mut impl FnMut(&str),
    node: &NodeStatus,
) -> Result<u64>
where
    F: FnMut(Request) -> Fut,
    Fut: Future<Output = Result<Response>>,
{
    if node.counters.is_empty() && node.replicas.is_empty() && node.more == 0 {
        return Ok(0);
    }
    let mut listed = 0;
    for owned in [true, false] {
        walk(ask, node.port, owned, |page| {
            listed += page.entries.len() as u64;
            if !page.entries.is_empty() {
                emit(&render(&Response::StatusPage(page)));
            }
        })
        .await?;
    }
    Ok(listed)
}

/// The whole status as one report: every node's keys, fetched page by page (`more` is 0 in
/// every node). Its memory grows with the store: for programs and tests that want every key.
///
/// # Errors
/// The first error answer, or an answer of the wrong kind.
pub async fn full_report<F, Fut>(mut ask: F) -> Result<StatusReport>
where
    F: FnMut(Request) -> Fut,
    Fut: Future<Output = Result<Response>>,
{
    let mut report = first_report(&mut ask).await?;
    for node in report.nodes.iter_mut().filter(|n| n.more > 0) {
        let (mut counters, mut replicas) = (Vec::new(), Vec::new());
        walk(&mut ask, node.port, true, |page| {
            counters.extend(page.entries)
        })
        .await?;
        walk(&mut ask, node.port, false, |page| {
            replicas.extend(page.entries)
        })
        .await?;
        (node.counters, node.replicas, node.more) = (counters, replicas, 0);
    }
    Ok(report)
}

/// The bounded `Status` report the walk starts from.
async fn first_report<F, Fut>(ask: &mut F) -> Result<StatusReport>
where
    F: FnMut(Request) -> Fut,
    Fut: Future<Output = Result<Response>>,
{
    match ask(Request::Status).await? {
        Response::Status(report) => Ok(report),
        other => Err(unexpected(&other)),
    }
}

/// Hands every page of one kind of keys (owned, or further replicas) of the node on `port` to
/// `on_page`, in key order: each page asked after the last key of the one before, until a page
/// is not full.
async fn walk<F, Fut>(
    ask: &mut F,
    port: u16,
    owned: bool,
    mut on_page: impl FnMut(StatusPage),
) -> Result<()>
where
    F: FnMut(Request) -> Fut,
    Fut: Future<Output = Result<Response>>,
{
    let mut after = None;
    loop {
        let request = Request::StatusPage {
            port,
            owned,
            after: after.take(),
            limit: MAX_PAGE_KEYS,
        };
        let page = match ask(request).await? {
            Response::StatusPage(page) => page,
            other => return Err(unexpected(&other)),
        };
        let full = page.entries.len() >= MAX_PAGE_KEYS as usize;
        after = page.entries.last().map(|(key, _)| key.clone());
        on_page(page);
        if !full {
            return Ok(());
        }
    }
}

fn footer(report: &StatusReport, mut emit: impl FnMut(&str)) {
    if let Some(footer) = status_footer(report) {
        emit("");
        emit(&footer);
    }
}

fn unexpected(response: &Response) -> Error {
    match response {
        Response::Error(reply) => Error::from(reply.clone()),
        _ => Error::Server("unexpected answer to a status request".into()),
    }
}
