//! The REPL's progress line during a long `add-node` or `remove-node` (on a terminal only): a
//! thread that, once the move has run half a second, redraws how many arcs change owner, the
//! keys the joining node holds so far, and the time taken, until the answer comes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ringkv::direct::Direct;
use ringkv::metrics::ClusterFigures;
use ringkv::progress;

/// How long a move runs before its progress is shown.
const QUIET: Duration = Duration::from_millis(500);
/// How often the line is redrawn.
const EVERY: Duration = Duration::from_millis(200);

/// A running progress line.
pub struct Ticker {
    done: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl Ticker {
    /// Starts drawing the progress of the membership change `direct` reports, if one runs.
    pub fn start(direct: Arc<Direct>) -> Ticker {
        let done = Arc::new(AtomicBool::new(false));
        let stop = done.clone();
        progress::open();
        let thread = std::thread::spawn(move || {
            let began = Instant::now();
            while !stop.load(Ordering::Acquire) {
                std::thread::sleep(EVERY);
                if began.elapsed() < QUIET {
                    continue;
                }
                if let Some((took, view)) = direct.move_view() {
                    progress::draw(&text(took, &view));
                }
            }
        });
        Ticker { done, thread }
    }

    /// Stops drawing and erases the line (the REPL erased it already if it printed the answer).
    pub fn stop(self) {
        self.done.store(true, Ordering::Release);
        progress::clear();
        let _ = self.thread.join();
    }
}

/// `Moving keys: 212 arcs change owner; node 5004 holds 12345 keys so far (3.2 s)`.
fn text(took: Duration, view: &ClusterFigures) -> String {
    let joining: Vec<String> = view
        .nodes
        .iter()
        .filter(|n| n.state == "joining")
        .map(|n| format!("node {} holds {} keys so far", n.port, n.keys))
        .collect();
    let mut line = format!("Moving keys: {} arcs change owner", view.moving.len());
    if !joining.is_empty() {
        line.push_str(&format!("; {}", joining.join(", ")));
    }
    line.push_str(&format!(" ({:.1} s)", took.as_secs_f64()));
    line
}
