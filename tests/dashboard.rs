//! The dashboard in a real browser: headless Chromium loads `/` from a running 5-node
//! `ringkv serve`, lets the page's script run (`--virtual-time-budget`), and the rendered DOM is
//! checked: one ring arc group per node, each with its arcs, and a killed node shown as down
//! within a few seconds. Skipped, with a message, where `chromium` is not installed (`.ci/run`
//! installs it).

use crate::support::http;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use http::HttpServe;

/// The browser's command, if one is installed.
fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser"].into_iter().find(|name| {
        Command::new(name)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// The DOM of `url` once the page's script ran for a few (virtual) seconds.
fn dump_dom(browser: &str, url: &str) -> String {
    let profile = tempfile::tempdir().expect("a browser profile directory");
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(["--virtual-time-budget=3000", "--dump-dom", url])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromium starts");
    let mut stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut dom = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut dom);
        dom
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().ok().flatten().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.wait();
    reader.join().unwrap_or_default()
}

/// `(port, state)` of every `<g class="node" data-port=.. data-state=..>` and how many arcs
/// (`<path class="arc"`) the groups hold.
fn arc_groups(dom: &str) -> (Vec<(u16, String)>, usize) {
    let mut groups = Vec::new();
    for part in dom.split("<g class=\"node\"").skip(1) {
        let attr = |name: &str| {
            part.split_once(&format!("{name}=\""))
                .and_then(|(_, rest)| rest.split_once('"'))
                .map(|(value, _)| value.to_owned())
        };
        if let (Some(port), Some(state)) = (attr("data-port"), attr("data-state")) {
            groups.push((port.parse().expect("a port"), state));
        }
    }
    (groups, dom.matches("<path class=\"arc\"").count())
}

#[test]
fn the_dashboard_draws_the_ring_and_a_killed_node_as_down() {
    let Some(browser) = chromium() else {
        eprintln!("SKIPPED: chromium is not installed (.ci/run installs Debian's chromium)");
        return;
    };
    // A long restart backoff: the killed node stays down while the page is looked at.
    let server = HttpServe::start(&["--nodes", "5", "--in-memory", "--restart-backoff", "60s"]);
    let url = format!("http://127.0.0.1:{}/", server.http);
    let (groups, arcs) = arc_groups(&dump_dom(browser, &url));
    let mut ports: Vec<u16> = groups.iter().map(|(p, _)| *p).collect();
    ports.sort_unstable();
    let mut expected = server.nodes.clone();
    expected.sort_unstable();
    assert_eq!(ports, expected, "one arc group per node: {groups:?}");
    assert!(groups.iter().all(|(_, s)| s == "up"), "{groups:?}");
    assert!(arcs >= 5, "each node's arcs are drawn: {arcs}");

    let victim = server.nodes[2];
    let killed = Command::new(env!("CARGO_BIN_EXE_ringkv"))
        .args([
            "client",
            "--addr",
            &format!("127.0.0.1:{}", server.nodes[0]),
        ])
        .args(["kill-node", &victim.to_string()])
        .output()
        .expect("ringkv client runs");
    assert!(killed.status.success(), "{killed:?}");
    let since = Instant::now();
    let mut seen = Vec::new();
    // A few seconds: each look starts a browser, which takes a second or two on a busy machine.
    while since.elapsed() < Duration::from_secs(15) {
        let dom = dump_dom(browser, &url);
        let (groups, _) = arc_groups(&dom);
        let row = dom.contains(&format!("data-port=\"{victim}\" data-state=\"down\""));
        if row && groups.contains(&(victim, "down".to_owned())) {
            return;
        }
        seen = groups;
    }
    panic!("node {victim} never shown as down: {seen:?}");
}

/// While `add-node` copies keys, the Router's mailbox waits for it; the dashboard and `/metrics`
/// then read the figures noted when the change began: the arcs that move and the joining node,
/// whose key count grows as the copy goes.
#[actix_rt::test]
async fn during_a_move_the_noted_figures_show_the_moving_arcs_and_the_joining_node() {
    use ringkv::{Cluster, ClusterConfig, Request};
    let config = ClusterConfig {
        nodes: 3,
        base_port: 0,
        ..Default::default()
    };
    let cluster = Cluster::start(config).expect("cluster starts");
    let gateway = cluster.gateway();
    for i in 0..100_000 {
        let update = Request::Update {
            key: format!("k{i}"),
            amount: 1,
        };
        gateway.execute(update).await;
    }
    assert!(
        gateway.direct().move_view().is_none(),
        "no change under way"
    );
    let router = cluster.router();
    let add = actix_rt::spawn(async move {
        router
            .send(ringkv::actors::Exec(Request::AddNode { port: None }))
            .await
    });
    let mut seen = None;
    for _ in 0..20_000 {
        if add.is_finished() {
            break;
        }
        if let Some((_, view)) = gateway.direct().move_view() {
            seen = Some(view);
        }
        tokio::time::sleep(Duration::from_micros(500)).await;
    }
    let answer = add
        .await
        .expect("the add ran")
        .expect("the Router answered");
    assert!(
        matches!(answer, ringkv::Response::NodeAdded { .. }),
        "{answer:?}"
    );
    let view = seen.expect("the change was seen under way");
    assert!(view.changing);
    assert!(!view.moving.is_empty(), "arcs move");
    let joining: Vec<_> = view.nodes.iter().filter(|n| n.state == "joining").collect();
    assert_eq!(joining.len(), 1, "{:?}", view.nodes);
    let new = joining[0].port;
    assert!(
        view.moving.iter().all(|m| m.to == new && m.from != new),
        "arcs move to the new node"
    );
    assert!(gateway.direct().move_view().is_none(), "the change ended");
    cluster.shutdown().await;
}
