//! A progress line on a terminal: drawn over itself (`\r`, erase to end of line) while a long
//! `add-node` or `remove-node` moves keys, and erased before the answer is printed.
//!
//! Only the interactive store on a terminal draws one; from a pipe nothing is ever drawn, so
//! [`clear`] writes nothing and the output stays byte for byte as it was.

use std::io::Write;
use std::sync::Mutex;

/// Whether a line is on the screen now, and whether drawing is still wanted.
struct State {
    shown: bool,
    open: bool,
}

static LINE: Mutex<State> = Mutex::new(State {
    shown: false,
    open: false,
});

fn state() -> std::sync::MutexGuard<'static, State> {
    LINE.lock().unwrap_or_else(|p| p.into_inner())
}

/// Allows [`draw`] until the next [`clear`].
pub fn open() {
    state().open = true;
}

/// Draws `text` over the current progress line, if drawing is allowed.
pub fn draw(text: &str) {
    let mut line = state();
    if line.open {
        let mut out = std::io::stdout().lock();
        let _ = write!(out, "\r\x1b[K{text}");
        let _ = out.flush();
        line.shown = true;
    }
}

/// Erases the progress line if one is shown, and stops drawing until [`open`].
pub fn clear() {
    let mut line = state();
    line.open = false;
    if line.shown {
        let mut out = std::io::stdout().lock();
        let _ = write!(out, "\r\x1b[K");
        let _ = out.flush();
        line.shown = false;
    }
}
